// Run pa11y's HTML_CodeSniffer on one page, seen with the shopper's cookies.
// Usage: node pa11y_page.js <url> <chromium> <cookies.json>; prints pa11y's
// issues as JSON. Debian's Chromium, launched here so the cookies go into its
// jar (every request of the page carries them, htmx's polling too).
"use strict";

const fs = require("node:fs");
const pa11y = require("pa11y");
const puppeteer = require("puppeteer");

async function main() {
  const [url, chromium, cookiesFile] = process.argv.slice(2);
  const cookies = JSON.parse(fs.readFileSync(cookiesFile, "utf8"));
  const browser = await puppeteer.launch({
    executablePath: chromium,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    const page = await browser.newPage();
    await page.setCookie(...cookies);
    const result = await pa11y(url, {
      browser,
      page,
      runners: ["htmlcs"],
      standard: "WCAG2AA",
      timeout: 30000,
    });
    process.stdout.write(JSON.stringify(result.issues));
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
