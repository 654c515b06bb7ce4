/** The one page of a browser test file: opened before its tests, closed with its browser after them. */
import { closeBrowser, launchBrowser, LaunchOptions, openPage, OpenPageOptions, PageHandle } from '../../tools/harness/browser';

/**
 * Opens `entry` (a page module) in beforeAll, launching this file's Chromium with `launch`, and
 * closes page and browser in afterAll. Returns the page's getter (valid inside tests).
 */
export function usePage(entry: string, opts: OpenPageOptions & { launch?: LaunchOptions } = {}): () => PageHandle {
  let page: PageHandle | undefined;
  beforeAll(async () => {
    if (opts.launch) await launchBrowser(opts.launch);
    page = await openPage(entry, opts);
  }, 180_000);
  afterAll(async () => {
    await page?.close();
    await closeBrowser();
  });
  return () => {
    if (!page) throw new Error(`the page ${entry} is not open (did beforeAll fail?)`);
    return page;
  };
}
