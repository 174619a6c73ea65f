// PostgreSQL refuses NUL in text and jsonb. Input that smuggles one in is the client's
// error, caught before it reaches a query and turns into a server fault.

/** Whether a string, or any key or string inside a JSON-like value, holds a NUL character. */
export function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (Array.isArray(value)) return value.some(containsNul);
  if (value && typeof value === 'object') return Object.entries(value).some(([key, child]) => key.includes('\u0000') || containsNul(child));
  return false;
}
