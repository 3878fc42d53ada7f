// MathJax 3 for the site's maths: pymdownx.arithmatex's `generic` output (\( \) and \[ \]) in
// the Markdown pages, and the notebooks' own $...$ and $$...$$, which mkdocs-jupyter leaves in
// their Markdown cells (class jp-RenderedMarkdown). Only those elements are typeset, so a dollar
// sign elsewhere stays a dollar sign. Re-run on each page that Material's instant navigation
// loads (document$ is Material's page observable).
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown"
  }
};

if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    if (window.MathJax && MathJax.typesetPromise) {
      MathJax.startup.output.clearCache();
      MathJax.typesetClear();
      MathJax.texReset();
      MathJax.typesetPromise();
    }
  });
}
