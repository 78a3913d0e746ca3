/** Aligned plain-text tables for the terminal: two spaces between columns, numbers right-aligned. */
export interface TextColumn {
  title: string;
  right?: boolean;
}

/** Control characters would break the alignment (and a terminal): shown as spaces. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
export const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, ' ');

export function formatTextTable(columns: readonly TextColumn[], rows: readonly (readonly string[])[]): string {
  const cells = [columns.map((c) => c.title), ...rows.map((r) => r.map(oneLine))];
  const widths = columns.map((_, j) => Math.max(...cells.map((row) => (row[j] ?? '').length)));
  return (
    cells
      .map((row) =>
        row
          .map((v, j) => (columns[j].right ? v.padStart(widths[j]) : v.padEnd(widths[j])))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
