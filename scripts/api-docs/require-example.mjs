// Every exported function, class and constant of the library carries an @example in its
// TSDoc: TypeDoc's own validation only checks that a comment exists.
import { Converter, ReflectionKind } from 'typedoc';

const needsExample = ReflectionKind.Function | ReflectionKind.Class | ReflectionKind.Variable;

export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    for (const reflection of context.project.getReflectionsByKind(needsExample)) {
      const comment = reflection.comment ?? reflection.signatures?.[0]?.comment;
      if (!comment?.getTag('@example')) app.logger.warn(`${reflection.getFriendlyFullName()} has no @example`);
    }
  });
}
