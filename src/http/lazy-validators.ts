import {
  AjvCompiler,
  type BuildCompilerFromPool,
  type ValidatorFactory as AjvValidatorFactory,
} from '@fastify/ajv-compiler';

/** A compiled route validator as Fastify calls it (fastify/lib/validation.js). */
interface Validator {
  (data: unknown, context?: unknown): unknown;
  errors?: unknown;
  schemaEnv?: unknown;
}
/** What Fastify passes a validator compiler: the schema of one part (body, querystring ...) of one route. */
interface RouteSchema {
  schema: unknown;
  method: string;
  url: string;
  httpPart?: string;
}
type ValidatorCompiler = (route: RouteSchema) => Validator;
/** @fastify/ajv-compiler's typings describe Ajv's compile(schema); at run time it takes Fastify's RouteSchema. */
type ValidatorFactory = (
  externalSchemas: Parameters<BuildCompilerFromPool>[0],
  options?: Parameters<BuildCompilerFromPool>[1],
) => ValidatorCompiler;

/**
 * Fastify's own validator compiler (@fastify/ajv-compiler, with the app's ajv options), compiling each
 * route's schema when a request first needs it instead of at start: Ajv compiled the schemas of every
 * mounted route (75 route parts with every dialect on) before the server listened, a fifth of the
 * bundled start's CPU and 4 MiB of heap, most for routes an app never calls. A route's first request
 * compiles its schema; later ones use it.
 *
 * A schema Ajv refuses would now answer 500 at its route's first request instead of stopping the start;
 * `compileAll()` compiles every pending one, which a test does for every route restauth mounts
 * (test/http/lazy-validators.test.ts).
 */
export class LazyValidators {
  readonly #build = AjvCompiler() as unknown as ValidatorFactory;
  readonly #pending = new Set<() => void>();

  /** Fastify's schemaController.compilersFactory.buildValidator (typed as Fastify declares it). */
  readonly buildValidator = ((externalSchemas, options) => {
    let compiler: ValidatorCompiler | undefined;
    return (route) => {
      let compiled: Validator | undefined;
      const compile = (): Validator => {
        compiled ??= (compiler ??= this.#build(externalSchemas, options))(route);
        this.#pending.delete(compile);
        return compiled;
      };
      this.#pending.add(compile);
      // What Fastify reads of a validator: a call, then .errors after a false; schemaEnv tells it to
      // pass the parent object (Ajv sets a root default through it). Each compiles first.
      const validate: Validator = (data, context) => compile()(data, context);
      Object.defineProperties(validate, {
        errors: { get: () => compile().errors },
        schemaEnv: { get: () => compile().schemaEnv },
      });
      return validate;
    };
  }) satisfies ValidatorFactory as unknown as AjvValidatorFactory;

  /** How many route schemas wait for their first request. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Compiles every route schema not compiled yet; throws what Ajv throws for a schema it refuses. */
  compileAll(): void {
    for (const compile of [...this.#pending]) compile();
  }
}
