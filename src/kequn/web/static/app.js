// Draws the overview charts from the JSON block the page embeds (no inline script: CSP script-src 'self').
(function () {
  var el = document.getElementById("chart-data");
  if (!el || !window.Plotly) { return; }
  var d = JSON.parse(el.textContent);
  var cfg = {displaylogo: false, responsive: true};
  function title(id) { return document.getElementById(id).getAttribute("data-title"); }
  Plotly.newPlot("chart-aum", [{type: "bar", x: d.branches, y: d.aum, marker: {color: "#b01f24"}}],
    {title: {text: title("chart-aum")}, margin: {t: 40, b: 80}}, cfg);
  Plotly.newPlot("chart-segments", [{type: "bar", x: d.segments, y: d.segment_customers, marker: {color: "#1d2733"}}],
    {title: {text: title("chart-segments")}, margin: {t: 40}}, cfg);
})();
