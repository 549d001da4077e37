import { pino, type Logger } from 'pino';

/** JSON logs on stderr, so stdout carries only what a command prints for people or pipes. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'rowguard' } }, pino.destination(2));
}
