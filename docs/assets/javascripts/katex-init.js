// Renders the pages' mathematics with the KaTeX copy in docs/assets/katex, so the site needs no
// network. pymdownx.arithmatex (generic mode) leaves each formula in an element of class
// "arithmatex", delimited by \( \) inline and \[ \] in display.
function renderMathematics() {
  for (const element of document.querySelectorAll(".arithmatex")) {
    renderMathInElement(element, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false,
    });
  }
}

if (typeof document$ !== "undefined") {
  document$.subscribe(renderMathematics); // Material's page-load stream (instant navigation too)
} else {
  document.addEventListener("DOMContentLoaded", renderMathematics);
}
