/** The one place identifiers and literals are quoted for SQL text that cannot take bind parameters. */
export function quoteIdent(name: string): string {
  if (name.length === 0 || name.includes('\0')) throw new Error('invalid SQL identifier');
  return '"' + name.replace(/"/g, '""') + '"';
}

/** A table name, optionally schema-qualified ("schema.table"); each part is quoted. */
export function quoteQualified(name: string): string {
  return name.split('.').map(quoteIdent).join('.');
}

export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('invalid SQL literal');
  return "'" + value.replace(/'/g, "''") + "'";
}
