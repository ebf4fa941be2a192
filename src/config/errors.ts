// Its own module, apart from the schema: the CLI's entry point tells a configuration error from
// others without loading the schema (zod), which only serve and the offline commands need.

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
