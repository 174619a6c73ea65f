// PostgreSQL refuses NUL in text and jsonb. Input that smuggles one in is the client's
// error, caught before it reaches a query and turns into a server fault.

/** Whether a string, or any key or string inside a JSON-like value, holds a NUL character. */
export function containsNul(value: unknown): boolean {
  // Iterative: a 64 KiB JSON body can nest some 30,000 levels, beyond the call stack.
  const pending: unknown[] = [value];
  while (pending.length) {
    const item = pending.pop();
    if (typeof item === 'string') {
      if (item.includes('\u0000')) return true;
    } else if (Array.isArray(item)) {
      for (const child of item) pending.push(child);
    } else if (item && typeof item === 'object') {
      for (const [key, child] of Object.entries(item)) {
        if (key.includes('\u0000')) return true;
        pending.push(child);
      }
    }
  }
  return false;
}
