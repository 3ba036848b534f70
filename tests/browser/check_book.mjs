// Opens every page of the built book in headless Chromium, offline, and checks what a reader meets.
//
//   node tests/browser/check_book.mjs [html dir (_build/html)] [screenshot dir (_build/screenshots)]
//   (`make browser-test`; needs `npm ci` for playwright-core and Chromium: Debian's `chromium` package, or
//   the browser named by $CHROMIUM)
//
// The site is served from 127.0.0.1 and the browser resolves no other host, so a page that needs the network
// fails. For every page: no script or stylesheet from another site (in the HTML, and no request leaves
// 127.0.0.1), no failed request, no console error, math typeset by MathJax (no raw TeX left in the text), every
// image loaded, and on notebook pages the download button and, exactly when the book was built with a repository
// (_config.yml's repository.url, which every page states in <meta name="course-repository">), the Colab and
// Binder buttons: built without one, no page may show them. Widget sliders must be visible
// and must respond in the page (no kernel): the Chapter 1 page must have one.
// Every page is checked at two widths, a desktop's (1280 px) and a phone's (390 px), for what a reader meets:
// no figure without alt text, no figure whose text is drawn under 8 px (estimated from the course style: 12 pt
// text at 200 dpi, scaled by the image's rendered over its natural width; the notebooks warn on any figure text
// under 12 pt, pagutils.plots.small_text), no code or output line that scrolls sideways (a <pre> wider than its
// box), no page wider than the viewport, no warning or traceback in a cell's output, and no raw LaTeX in a
// page's title, headings or navigation. A screenshot of every page at both widths is saved for review
// (<page>.png at 1280 px, <page>__390px.png at 390 px). Exit status 1 when any check fails.
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, relative, resolve, sep } from "node:path";

import { chromium } from "playwright-core";

const HTML = resolve(process.argv[2] ?? "_build/html");
const SHOTS = resolve(process.argv[3] ?? "_build/screenshots");
const WIDGET_PAGES = ["book/ch01_adversarial_examples.html"];  // must show a working slider
const LANES = Number(process.env.BROWSER_LANES ?? 2);  // pages checked at once (2: 60 s against 96 s one at a time)
const WIDTHS = [{width: 1280, height: 900, suffix: ""}, {width: 390, height: 844, suffix: "__390px"}];
// The course style (pagutils.plots.COURSE_STYLE): figures at 200 dpi, no text under 12 pt; a figure's text is
// then 12 / 72 * 200 natural pixels high, times the rendered / natural width of its image on the page.
const FIGURE_DPI = 200;
const SMALLEST_POINTS = 12;  // pagutils.plots.SMALLEST_POINTS
const SMALLEST_PIXELS = 8;
const REQUIRED_PAGES = ["index.html", "book/intro.html", "book/ch01_adversarial_examples.html",
                        "book/running.html", "book/reproduction.html", "book/running_times.html", "book/bibliography.html"];
const TYPES = {".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
               ".png": "image/png", ".jpg": "image/jpeg", ".svg": "image/svg+xml", ".gif": "image/gif",
               ".ico": "image/x-icon", ".json": "application/json", ".woff": "font/woff",
               ".woff2": "font/woff2", ".ttf": "font/ttf", ".otf": "font/otf", ".eot": "application/vnd.ms-fontobject",
               ".txt": "text/plain", ".ipynb": "application/json", ".inv": "application/octet-stream"};

function fail(message) {
  console.error(`check_book: ${message}`);
  process.exit(2);
}

function htmlPages(dir) {
  const pages = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!["_static", "_sources", "_images", "_downloads"].includes(name)) pages.push(...htmlPages(path));
    } else if (name.endsWith(".html")) {
      pages.push(relative(HTML, path).split(sep).join("/"));
    }
  }
  return pages.sort();
}

function chromiumPath() {
  const candidates = [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser",
                      "/usr/bin/google-chrome"].filter(Boolean);
  const found = candidates.find((path) => existsSync(path));
  if (!found) fail(`no Chromium found (tried ${candidates.join(", ")}): apt-get install chromium, or set CHROMIUM`);
  return found;
}

// Scripts and stylesheets a page's HTML loads from another site.
function externalAssets(html) {
  const found = [];
  for (const tag of html.match(/<(script|link)\b[^>]*>/gi) ?? []) {
    const isScript = /^<script/i.test(tag);
    if (!isScript && !/\brel=["']?(stylesheet|preload|modulepreload)/i.test(tag)) continue;
    const url = tag.match(/\b(?:src|href)=["']?((?:https?:)?\/\/[^"'\s>]+)/i);
    if (url) found.push(url[1]);
  }
  return found;
}

// The target of a redirect-only page (<meta http-equiv="Refresh" content="0; url=...">), else null.
function redirectTarget(html) {
  const match = html.match(/^\s*<meta\s+http-equiv=["']refresh["']\s+content=["']\d+;\s*url=([^"']+)["']\s*\/?>\s*$/i);
  return match ? match[1] : null;
}

function serve(root) {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url, "http://127.0.0.1").pathname);
    let file = resolve(join(root, path));
    if (file.startsWith(root) && existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
    if (!file.startsWith(root) || !existsSync(file)) {
      response.writeHead(404).end("not found");
      return;
    }
    response.writeHead(200, {"Content-Type": TYPES[extname(file)] ?? "application/octet-stream"});
    response.end(readFileSync(file));
  });
  return new Promise((done) => server.listen(0, "127.0.0.1", () => done(server)));
}

// Runs in the page: raw TeX left in the visible text (outside code), and math elements without MathJax output.
function mathProblems() {
  const skip = "pre, code, script, style, textarea, mjx-container, .highlight, .MathJax";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [];
  const patterns = [/\$\$/, /\\\(/, /\\\[/, /\\begin\{/, /\$[^$\s][^$]*\\[A-Za-z]+[^$]*\$/];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip) || !parent.checkVisibility?.()) continue;
    const text = node.textContent;
    if (patterns.some((p) => p.test(text))) raw.push(text.trim().slice(0, 80));
  }
  const math = [...document.querySelectorAll("span.math, div.math")];
  const untypeset = math.filter((m) => !m.querySelector("mjx-container")).map((m) => m.textContent.slice(0, 60));
  return {raw, math: math.length, untypeset, mathjax: document.querySelectorAll("mjx-container").length};
}

// Runs in the page: images that did not load.
function brokenImages() {
  return [...document.images].filter((img) => !(img.complete && img.naturalWidth > 0))
    .map((img) => img.currentSrc || img.src || img.outerHTML.slice(0, 80));
}

// Runs in the page: what a reader meets in the content (see the header): figures without alt text or with text
// too small to read, lines that scroll sideways, warnings and tracebacks in outputs, raw LaTeX in titles.
function readerProblems({dpi, points, smallest}) {
  const problems = [];
  const visible = (el) => el.checkVisibility?.() ?? el.getClientRects().length > 0;
  const describe = (img) => (img.closest("figure")?.id || img.getAttribute("src") || "").slice(-80);
  const figures = [...document.querySelectorAll("article img, .bd-article img, main img")]
    .filter((img, i, all) => all.indexOf(img) === i && visible(img) && img.naturalWidth > 0)
    .filter((img) => img.closest(".cell_output, figure, .output"));
  for (const img of figures) {
    // a widget slider's picture changes with the slider and has no alt text of its own: the static figure
    // beside every slider (a figure with a caption and alt text) says what the pictures show
    const isWidget = !!img.closest(".jupyter-widgets, .widget-image");
    if (!isWidget && !(img.getAttribute("alt") ?? "").trim()) {
      problems.push(`figure without alt text: ${describe(img)}`);
    }
    const rendered = img.getBoundingClientRect().width;
    const textPixels = (points / 72) * dpi * (rendered / img.naturalWidth);
    if (textPixels < smallest) {
      problems.push(`figure text about ${textPixels.toFixed(1)} px high (under ${smallest} px): ` +
                    `${describe(img)} drawn ${img.naturalWidth} px wide, shown ${Math.round(rendered)} px wide`);
    }
  }
  // the page itself: nothing may make it wider than the viewport (a reader would scroll the whole page sideways)
  const pageWidth = document.documentElement.scrollWidth;
  if (pageWidth > window.innerWidth + 1) {
    const wide = [...document.querySelectorAll("article *, main *")]
      .filter((el) => visible(el) && el.getBoundingClientRect().right > window.innerWidth + 1)
      .filter((el) => !el.closest("pre, .highlight, .table-wrapper, .MathJax, mjx-container"))
      .map((el) => `<${el.tagName.toLowerCase()}> ${JSON.stringify(el.textContent.trim().slice(0, 40))}`);
    problems.push(`the page is ${pageWidth} px wide in a ${window.innerWidth} px viewport` +
                  (wide.length ? `: ${wide.slice(-1)[0]}` : ""));
  }
  for (const pre of document.querySelectorAll("pre")) {
    if (!visible(pre) || pre.scrollWidth <= pre.clientWidth + 1) continue;
    const longest = pre.textContent.split("\n").reduce((a, b) => (b.length > a.length ? b : a), "");
    problems.push(`a line scrolls sideways (${pre.scrollWidth} px in ${pre.clientWidth} px): ` +
                  JSON.stringify(longest.trim().slice(0, 80)));
  }
  const outputs = document.querySelectorAll(".cell_output .output, .cell_output pre, div.output");
  const seen = new Set();
  for (const out of outputs) {
    const text = out.textContent;
    const kind = out.matches(".traceback, .error") || /Traceback \(most recent call last\)/.test(text) ? "traceback"
      : out.matches(".stderr") && /\w*(Warning|warn)\b/.test(text) ? "warning"
      : /^\S.*\b\w*Warning: /m.test(text) ? "warning" : null;
    if (kind && !seen.has(text)) {
      seen.add(text);
      problems.push(`${kind} in an output: ${JSON.stringify(text.trim().slice(0, 120))}`);
    }
  }
  const tex = /\$|\\[A-Za-z]+|\\[{}()[\]]/;
  const titles = [["page title", document.title],
                  ...[...document.querySelectorAll("h1, h2, h3, h4, h5, h6, nav a, .bd-toc a, .prev-next-area a")]
                    .map((el) => {
                      const copy = el.cloneNode(true);
                      copy.querySelectorAll("mjx-container, .headerlink, script").forEach((m) => m.remove());
                      return [el.tagName.toLowerCase(), copy.textContent];
                    })];
  const reported = new Set();
  for (const [where, text] of titles) {
    if (text && tex.test(text) && !reported.has(text)) {
      reported.add(text);
      problems.push(`raw LaTeX in a ${where}: ${JSON.stringify(text.trim().slice(0, 100))}`);
    }
  }
  return problems;
}

// Waits for MathJax's first typesetting pass; false when the page has math and MathJax never started.
async function waitForMath(page) {
  const hasMath = await page.evaluate(() => !!document.querySelector("span.math, div.math"));
  if (!hasMath) return true;
  const loaded = await page.waitForFunction(() => window.MathJax?.startup?.promise, null, {timeout: 30000})
    .then(() => true, () => false);
  if (loaded) await page.evaluate(() => window.MathJax.startup.promise);
  return loaded;
}

// Every widget slider on the page: visible, and a key press moves it and changes the picture below it.
async function checkSliders(page, problems) {
  const sliders = page.locator(".widget-slider");
  const count = await sliders.count();
  for (let i = 0; i < count; i++) {
    const slider = sliders.nth(i);
    await slider.scrollIntoViewIfNeeded();
    if (!(await slider.isVisible())) {
      problems.push(`widget slider ${i + 1} is not visible`);
      continue;
    }
    const box = slider.locator("xpath=..");
    const state = () => box.evaluate((el) => {
      const img = el.querySelector("img");
      return {readout: el.querySelector(".widget-readout")?.textContent?.trim(), src: img?.src,
              ok: !!img && img.complete && img.naturalWidth > 0};
    });
    const before = await state();
    if (!before.ok) problems.push(`widget slider ${i + 1}: its picture did not load`);
    await slider.locator(".noUi-handle").first().focus();
    await page.keyboard.press("ArrowRight");
    await page.waitForTimeout(300);
    const after = await state();
    if (after.readout === before.readout || after.src === before.src || !after.ok) {
      problems.push(`widget slider ${i + 1} does not respond: readout ${before.readout} -> ${after.readout}, ` +
                    `picture ${after.src === before.src ? "unchanged" : "changed"}`);
    }
    await page.keyboard.press("ArrowLeft");
  }
  return count;
}

async function checkPage(context, base, path, problems, suffix = "") {
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text().slice(0, 200)}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${String(error).slice(0, 200)}`));
  page.on("requestfailed", (request) => {
    if (!request.url().startsWith("data:")) problems.push(`request failed: ${request.url()}`);
  });
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(base) || url.startsWith("data:") || url.startsWith("blob:")) return route.continue();
    problems.push(`request to another site: ${url}`);
    return route.abort();
  });

  await page.goto(`${base}/${path}`, {waitUntil: "load", timeout: 60000});
  if ((await waitForMath(page)) === false) problems.push("the page has math but MathJax did not load");
  const hasWidgets = await page.evaluate(
    () => !!document.querySelector('script[type="application/vnd.jupyter.widget-view+json"]'));
  if (hasWidgets) {
    await page.waitForSelector(".jupyter-widgets", {timeout: 30000})
      .catch(() => problems.push("widgets did not render"));
  }
  await page.waitForFunction(() => [...document.images].every((img) => img.complete), null, {timeout: 30000})
    .catch(() => problems.push("images still loading after 30 s"));

  const math = await page.evaluate(mathProblems);
  for (const text of math.raw) problems.push(`raw TeX in the text: ${JSON.stringify(text)}`);
  for (const text of math.untypeset) problems.push(`math not typeset: ${JSON.stringify(text)}`);
  for (const src of await page.evaluate(brokenImages)) problems.push(`image did not load: ${src}`);
  const reader = await page.evaluate(readerProblems, {dpi: FIGURE_DPI, points: SMALLEST_POINTS,
                                                      smallest: SMALLEST_PIXELS});
  for (const problem of reader) problems.push(problem);
  const sliders = hasWidgets ? await checkSliders(page, problems) : 0;
  if (WIDGET_PAGES.includes(path) && sliders === 0) problems.push("no widget slider on this page");
  const isNotebook = existsSync(join(HTML, "_sources", path.replace(/\.html$/, ".ipynb")));
  const links = await page.evaluate(() => [...document.querySelectorAll("a")].map((a) => a.href));
  const repository = await page.evaluate(
    () => document.querySelector('meta[name="course-repository"]')?.getAttribute("content") ?? null);
  if (repository === null) problems.push("no <meta name=\"course-repository\"> (book/_ext/course_repository.py)");
  const launch = [["Colab", /colab\.research\.google\.com/], ["Binder", /mybinder\.org/]];
  if (isNotebook) {
    for (const [name, pattern] of [...(repository ? launch : []), ["notebook download", /_sources\/.*\.ipynb$/]]) {
      if (!links.some((href) => pattern.test(href))) problems.push(`no ${name} button`);
    }
  }
  if (!repository) {
    for (const [name, pattern] of launch) {
      if (links.some((href) => pattern.test(href))) problems.push(`a ${name} button, but repository.url is unset`);
    }
  }

  await page.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
  const shot = `${path.replace(/\.html$/, "").replaceAll("/", "__")}${suffix}.png`;
  await page.screenshot({path: join(SHOTS, shot), fullPage: true});
  await page.close();
  return {path: suffix ? `${path} @${page.viewportSize().width}px` : path, problems, shot, math: math.mathjax,
          sliders, notebook: isNotebook, repository};
}

async function main() {
  if (!existsSync(join(HTML, "index.html"))) fail(`${HTML}/index.html not found: build the book first (make book)`);
  const pages = htmlPages(HTML);
  const missing = REQUIRED_PAGES.filter((p) => !pages.includes(p));
  mkdirSync(SHOTS, {recursive: true});
  const results = [];
  const redirects = {};
  for (const path of pages) {
    const html = readFileSync(join(HTML, path), "utf8");
    const external = externalAssets(html);
    if (external.length) results.push({path, problems: external.map((u) => `external script/stylesheet: ${u}`)});
    const target = redirectTarget(html);
    if (target !== null) {
      const resolved = new URL(target, `http://site/${path}`).pathname.slice(1);
      redirects[path] = resolved;
      if (!pages.includes(resolved)) results.push({path, problems: [`redirects to a missing page: ${target}`]});
    }
  }

  const server = await serve(HTML);
  const base = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
  // every (width, page) check, LANES of them at a time: a page spends much of its time waiting (MathJax, images,
  // the sliders' responses), so two at once finish sooner on 2 cores (a third gains nothing); results keep the
  // order of the jobs
  const contexts = await Promise.all(WIDTHS.map(({width, height}) =>
    browser.newContext({viewport: {width, height}, serviceWorkers: "block"})));
  const jobs = WIDTHS.flatMap((w, i) => pages.filter((p) => !(p in redirects)).map((path) => ({...w, i, path})));
  const done = new Array(jobs.length);
  let next = 0;
  async function lane() {
    while (next < jobs.length) {
      const j = next++;
      const {width, suffix, i, path} = jobs[j];
      const problems = [];
      try {
        done[j] = await checkPage(contexts[i], base, path, problems, suffix);
      } catch (error) {
        done[j] = {path: `${path} @${width}px`,
                      problems: [...problems, `could not check: ${String(error).split("\n")[0]}`]};
      }
    }
  }
  await Promise.all(Array.from({length: LANES}, lane));
  results.push(...done);
  await Promise.all(contexts.map((context) => context.close()));
  await browser.close();
  server.close();

  let failed = missing.length > 0;
  for (const [path, target] of Object.entries(redirects)) console.log(`ok   ${path}  (redirects to ${target})`);
  for (const r of results.filter((r) => r.shot)) {
    const notes = [`${r.math} math`, r.sliders ? `${r.sliders} slider(s) respond` : null,
                   r.notebook ? (r.repository ? "launch buttons" : "no repository: no launch buttons") : null]
      .filter(Boolean).join(", ");
    console.log(`${r.problems.length ? "FAIL" : "ok  "} ${r.path}  (${notes})  -> ${relative(process.cwd(), join(SHOTS, r.shot))}`);
  }
  for (const r of results.filter((r) => r.problems.length)) {
    failed = true;
    for (const problem of r.problems) console.log(`  ${r.path}: ${problem}`);
  }
  for (const path of missing) console.log(`  missing page: ${path}`);
  const checked = results.filter((r) => r.shot).length;
  console.log(failed ? `browser check FAILED (${checked} pages)` : `browser check passed: ${checked} pages`);
  process.exit(failed ? 1 : 0);
}

main().catch((error) => fail(error.stack ?? String(error)));
