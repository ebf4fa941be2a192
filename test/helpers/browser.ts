import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { IN_CI } from './backends.js';

// Debian's Chromium driven by playwright-core (never a downloaded browser). Under CI=true a
// missing Chromium fails the tests that need it; elsewhere they are skipped with the reason.

export const CHROMIUM = process.env.BERTH_TEST_CHROMIUM ?? '/usr/bin/chromium';

export function chromiumGate(): { skip?: string } {
  if (existsSync(CHROMIUM)) return {};
  if (IN_CI) throw new Error(`CI=true requires Chromium at ${CHROMIUM} (apt-get install chromium)`);
  return { skip: `no Chromium at ${CHROMIUM} (apt-get install chromium)` };
}

/** A headless Chromium; the sandbox is off because test machines run as root in containers. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * axe-core's checks on the page as it is now. The page's context must be made with bypassCSP: the
 * portal's Content-Security-Policy rightly refuses the injected script otherwise.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.addScriptTag({ content: AXE_SOURCE });
  return page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: AxeViolation[] }> } }).axe;
    const r = await axe.run();
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
  });
}
