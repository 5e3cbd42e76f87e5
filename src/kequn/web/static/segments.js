// Segment builder (客群构建): checks and sizes the rule as the user types, through the REST API
// (POST /api/segments/check, then /api/segments/preview); an error is shown with a caret at its position.
(function () {
  var form = document.getElementById("builder");
  if (!form) { return; }
  var rule = form.querySelector("[name=rule]"), entity = form.querySelector("[name=entity]");
  var out = document.getElementById("builder-result"), timer = null, seq = 0;
  function post(url, body) {
    return fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json",
                "X-CSRF-Token": form.getAttribute("data-csrf")},
      body: JSON.stringify(body)}).then(function (r) { return r.json(); });
  }
  function show(text, cls) { out.textContent = text; out.className = cls; }
  function caret(text, pos) {
    var lines = text.slice(0, pos).split("\n"), col = lines[lines.length - 1].length;
    var line = text.split("\n")[lines.length - 1];
    return line + "\n" + new Array(col + 1).join(" ") + "^";
  }
  function run() {
    var body = {rule: rule.value, entity: entity.value}, mine = ++seq;
    if (!rule.value.trim()) { show("", ""); return; }
    post("/api/segments/check", body).then(function (c) {
      if (mine !== seq) { return; }
      if (!c.valid) {
        show((c.message || "invalid") + (c.position == null ? "" : "\n" + caret(rule.value, c.position)), "error");
        return;
      }
      show(form.getAttribute("data-valid-label") + " …", "ok");
      return post("/api/segments/preview", body).then(function (s) {
        if (mine !== seq) { return; }
        if (s.size == null) { show(s.message || "?", "error"); return; }
        show(form.getAttribute("data-valid-label") + " · " + form.getAttribute("data-size-label") + ": " + s.size
             + " (" + s.as_of + ")", "ok");
      });
    }).catch(function (e) { show(String(e), "error"); });
  }
  rule.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 400); });
  entity.addEventListener("change", run);
})();
