/** A value with its type, for error messages: `'8' (string)`, `8 (number)`, `null`, `[1,2] (array)`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `${JSON.stringify(v).slice(0, 80)} (array)`;
  let shown: string;
  if (typeof v === 'string') shown = `'${v.slice(0, 80)}'`;
  else if (typeof v === 'object') {
    try {
      shown = JSON.stringify(v).slice(0, 80);
    } catch {
      shown = Object.prototype.toString.call(v);
    }
  } else shown = String(v);
  return `${shown} (${typeof v})`;
}
