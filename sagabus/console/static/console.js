// Draws every <pre class="mermaid"> not drawn yet, on load and after htmx swaps.
(function () {
  function draw() {
    if (!window.mermaid) return;
    window.mermaid.run({ querySelector: "pre.mermaid:not([data-processed])" });
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (window.mermaid) {
      window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral" });
    }
    draw();
    document.body.addEventListener("htmx:afterSettle", draw);
  });
})();
