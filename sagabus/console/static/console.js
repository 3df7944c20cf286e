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
// Asks before a form marked data-confirm (a purge) is sent.
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});
