// The results board: asks for the ranking every few seconds and redraws what changed.
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-url");
  var poll = Math.max(1, parseFloat(body.getAttribute("data-poll")) || 2) * 1000;
  var tbody = document.querySelector("#ranking tbody");
  var state = document.getElementById("state");
  var note = document.getElementById("note");
  var seen = "";
  var before = {};

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  function draw(data) {
    document.getElementById("venue").textContent = data.title + "·" + data.venue;
    state.textContent = data.state + " · 已评 " + data.scored + "/" + data.expected +
      (data.live ? " · 实时成绩，尚未公布" : "");
    var rows = document.createDocumentFragment();
    var now = {};
    data.rows.forEach(function (r) {
      var tr = document.createElement("tr");
      if (r.rank === "1") { tr.className = "top1"; }
      if (before[r.name] !== undefined && before[r.name] !== r.result) { tr.className += " changed"; }
      now[r.name] = r.result;
      cell(tr, r.rank); cell(tr, r.name); cell(tr, r.result);
      rows.appendChild(tr);
    });
    before = now;
    tbody.replaceChildren(rows);
    document.getElementById("ranking").hidden = data.rows.length === 0;
    note.textContent = data.rows.length ? "" : "成绩公布后在此显示排名。";
    body.setAttribute("data-version", data.version);
  }

  function tick() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) { throw new Error(r.status === 403 ? "看板链接已失效" : "暂时无法更新"); }
        return r.json();
      })
      .then(function (data) {
        if (data.version !== seen) { seen = data.version; draw(data); }
      })
      .catch(function (e) { state.textContent = e.message + "，稍后自动重试…"; })
      .then(function () { setTimeout(tick, poll); });
  }

  document.getElementById("full").addEventListener("click", function () {
    if (document.fullscreenElement) { document.exitFullscreen(); }
    else if (document.documentElement.requestFullscreen) { document.documentElement.requestFullscreen(); }
  });
  tick();
}());
