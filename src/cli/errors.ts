/** A CLI failure: the message is printed as "error: …" and the process exits with exitCode (2 = bad usage). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
    /** The HTTP status the server answered, when the failure is its answer. */
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
