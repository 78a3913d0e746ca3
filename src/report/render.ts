/**
 * Vega-Lite spec → SVG (vega, headless) → PNG (resvg). No canvas package is needed: vega's SVG renderer
 * only needs text widths for layout, and without node-canvas it would guess 0.8 em per character (far too
 * wide: legends and titles get spaced out and long labels truncated). We install a width function that
 * uses DejaVu Sans advance widths instead; the charts ask for DejaVu Sans first (then Verdana, whose
 * metrics are close, then any sans-serif), so the guessed layout matches what is drawn.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { Resvg, type ResvgRenderOptions } from '@resvg/resvg-js';
import { KvoptError } from '../util/errors.ts';

/** Font stack every chart uses (config.font). */
export const CHART_FONT = 'DejaVu Sans, Verdana, sans-serif';

// Advance widths of ASCII 32..126 in 1/1000 em, read from DejaVuSans.ttf / DejaVuSans-Bold.ttf (hmtx).
const DEJAVU_SANS = [
  318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636, 636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838,
  531, 1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390,
  838, 500, 500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337,
  636, 838,
];
const DEJAVU_SANS_BOLD = [
  348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696, 696, 696, 696, 696, 696, 696, 696, 696, 400, 400, 838, 838, 838,
  580, 1000, 774, 762, 734, 830, 683, 683, 821, 837, 372, 372, 775, 637, 995, 837, 850, 733, 850, 770, 720, 682, 812, 774, 1103, 771, 724, 725, 457, 365, 457,
  838, 500, 500, 675, 716, 593, 716, 678, 435, 716, 712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924, 645, 652, 582, 712, 365,
  712, 838,
];
const NON_ASCII_EM = 0.65; // a typical Latin/Greek glyph; CJK would be ~1 em

/** Width in px of `text` set in DejaVu Sans at `fontSize` px. */
export function dejaVuTextWidth(text: string, fontSize: number, bold = false): number {
  const table = bold ? DEJAVU_SANS_BOLD : DEJAVU_SANS;
  let units = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    units += cp >= 32 && cp < 127 ? table[cp - 32] : cp >= 0x2e80 ? 1000 : NON_ASCII_EM * 1000;
  }
  return (units / 1000) * fontSize;
}

interface TextItem {
  text?: unknown;
  fontSize?: number;
  fontWeight?: string | number;
  limit?: number;
}

let metricsInstalled = false;
function installTextMetrics(): void {
  if (metricsInstalled) return;
  // vega exports textMetrics at runtime (vl-convert replaces .width the same way) but not in its typings.
  const tm = (vega as unknown as { textMetrics: { width: (item: TextItem, text?: unknown) => number } }).textMetrics;
  tm.width = (item: TextItem, text?: unknown): number => {
    const value = text ?? item.text;
    const lines = Array.isArray(value) ? value.map(String) : value == null ? [] : [String(value)];
    const size = item.fontSize ?? 11;
    const w = item.fontWeight;
    const bold = w === 'bold' || w === 'bolder' || (typeof w === 'number' && w >= 600) || (typeof w === 'string' && Number(w) >= 600);
    return lines.reduce((m, line) => Math.max(m, dejaVuTextWidth(line, size, bold)), 0);
  };
  metricsInstalled = true;
}

/** Compiles a Vega-Lite spec and renders it to an SVG string, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  installTextMetrics();
  const { spec: vgSpec } = compile(spec);
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Makes the ids inside one SVG unique (vega numbers its clip paths clip1, clip2, ... afresh for every
 * render, so two charts inlined in one HTML page would otherwise clip each other's marks).
 */
export function scopeSvgIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, (_m, id: string) => `id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_m, id: string) => `url(#${prefix}-${id})`)
    .replace(/\bhref="#([^"]+)"/g, (_m, id: string) => `href="#${prefix}-${id}"`);
}

// Where DejaVu Sans lives on common systems; loadSystemFonts finds it too, listing it pins it as the default.
const FONT_DIRS = [
  '/usr/share/fonts/truetype/dejavu',
  '/usr/share/fonts/dejavu',
  '/usr/share/fonts/TTF',
  '/usr/share/fonts/dejavu-sans-fonts',
  '/usr/local/share/fonts',
  '/opt/homebrew/share/fonts',
  '/Library/Fonts',
];

let cachedFontOptions: NonNullable<ResvgRenderOptions['font']> | undefined;

/**
 * resvg font options: DejaVu Sans when found in `fontDirs`, plus the system fonts when `loadSystemFonts`.
 * Throws a KvoptError when the result cannot draw text at all (resvg would silently leave labels out).
 */
export function resolvePngFonts(fontDirs: readonly string[] = FONT_DIRS, loadSystemFonts = true): NonNullable<ResvgRenderOptions['font']> {
  const files: string[] = [];
  for (const dir of fontDirs) {
    for (const f of ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf']) if (existsSync(join(dir, f))) files.push(join(dir, f));
    if (files.length) break;
  }
  // Without DejaVu, resvg's default family is the first system font it finds: text is drawn, but
  // with other widths than the layout assumed (labels may crowd or leave gaps).
  const font: NonNullable<ResvgRenderOptions['font']> = files.length
    ? { fontFiles: files, loadSystemFonts, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' }
    : { loadSystemFonts };
  const probe = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><text x="2" y="16" font-size="16" font-family="sans-serif">Hg</text></svg>';
  const pixels = new Resvg(probe, { font }).render().pixels; // RGBA
  let drawn = false;
  for (let i = 3; i < pixels.length; i += 4) {
    if (pixels[i] > 0) {
      drawn = true;
      break;
    }
  }
  if (!drawn) {
    throw new KvoptError(
      'png: no font found to draw chart text (looked for DejaVu Sans and system fonts); install one ' +
        '(Debian/Ubuntu: apt-get install fonts-dejavu-core) or write --format svg/html instead',
    );
  }
  return font;
}

/** resolvePngFonts() for this machine, probed once per process. */
export function pngFontOptions(): NonNullable<ResvgRenderOptions['font']> {
  cachedFontOptions ??= resolvePngFonts();
  return cachedFontOptions;
}

/** Rasterises an SVG to PNG bytes at `scale` × its own size (2 = sharp on paper and HiDPI screens). */
export function svgToPng(svg: string, scale = 2): Buffer {
  const resvg = new Resvg(svg, {
    font: pngFontOptions(),
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
  });
  return resvg.render().asPng();
}
