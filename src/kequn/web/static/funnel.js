// Journey funnel chart from the JSON block the page embeds (no inline script: CSP script-src 'self').
(function () {
  var el = document.getElementById("funnel-data");
  if (!el || typeof Plotly === "undefined") { return; }
  var d = JSON.parse(el.textContent), box = document.getElementById("chart-funnel");
  Plotly.newPlot("chart-funnel", [{type: "funnel", y: d.stages, x: d.reached, textinfo: "value+percent initial",
                                   marker: {color: "#b01f24"}}],
    {title: {text: box.getAttribute("data-title")}, margin: {t: 40, l: 140}}, {displayModeBar: false, responsive: true});
})();
