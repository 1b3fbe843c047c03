/** The message stored on a failed record: the error's own message, prefixed by its class when that says more. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const name = error.name && error.name !== 'Error' ? error.name : '';
    return name ? `${name}: ${error.message}` : error.message;
  }
  return typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error));
}
