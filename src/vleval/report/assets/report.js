// vleval report: the sample browser. Data comes from the JSON block #report-data; everything is
// built with DOM calls (textContent), never innerHTML, so sample text cannot inject markup.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var samples = data.samples || [];
  var PAGE = 50;
  var shown = PAGE;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }
  function verdictOf(s) {
    var last = s.runs[s.runs.length - 1];
    if (last.f) { return "failed"; }
    return last.h === true ? "hit" : (last.h === false ? "miss" : "unknown");
  }
  function byId(id) { return document.getElementById(id); }

  var fBench = byId("f-benchmark"), fModel = byId("f-model"), fCat = byId("f-category"),
      fVerdict = byId("f-verdict"), fFailed = byId("f-failed"), fSearch = byId("f-search"),
      list = byId("sample-list"), count = byId("sample-count"), more = byId("sample-more");
  if (!list) { return; }

  function fillSelect(select, values, allLabel) {
    var keep = select.value;
    while (select.firstChild) { select.removeChild(select.firstChild); }
    select.appendChild(el("option", { value: "", text: allLabel }));
    values.forEach(function (v) { select.appendChild(el("option", { value: v, text: v })); });
    select.value = values.indexOf(keep) >= 0 ? keep : "";
  }
  function uniq(values) {
    var seen = {}, out = [];
    values.forEach(function (v) { if (v !== "" && !seen[v]) { seen[v] = 1; out.push(v); } });
    return out.sort();
  }
  fillSelect(fBench, uniq(samples.map(function (s) { return s.b; })), "all benchmarks");
  fillSelect(fModel, uniq(samples.map(function (s) { return s.m; })), "all models");
  function refreshCategories() {
    var b = fBench.value;
    fillSelect(fCat, uniq(samples.filter(function (s) { return !b || s.b === b; })
      .map(function (s) { return s.c; })), "all categories");
  }
  refreshCategories();

  function matches(s) {
    if (fBench.value && s.b !== fBench.value) { return false; }
    if (fModel.value && s.m !== fModel.value) { return false; }
    if (fCat.value && s.c !== fCat.value) { return false; }
    var v = verdictOf(s);
    if (fVerdict.value && v !== fVerdict.value &&
        !(fVerdict.value === "miss" && v === "failed")) { return false; }
    if (fFailed.checked && !s.runs.some(function (r) { return r.f; })) { return false; }
    var q = fSearch.value.trim().toLowerCase();
    if (q) {
      var hay = [s.i, s.q, s.a, s.c].concat(Object.keys(s.o).map(function (k) { return s.o[k]; }));
      s.runs.forEach(function (r) { hay.push(r.p, r.x, r.v); });
      if (hay.join("\n").toLowerCase().indexOf(q) < 0) { return false; }
    }
    return true;
  }

  function kv(key, value, pre) {
    if (value === undefined || value === null || value === "") { return null; }
    return [el("b", { text: key }), pre ? el("pre", { text: String(value) }) : el("span", { text: String(value) })];
  }
  function kvBlock(pairs) {
    var box = el("div", { "class": "kv" });
    pairs.forEach(function (p) { if (p) { box.appendChild(p[0]); box.appendChild(p[1]); } });
    return box;
  }
  function runBlock(r) {
    var verdict = r.f ? "failed" : (r.h === true ? "hit" : (r.h === false ? "miss" : "unknown"));
    var box = el("div", {}, [
      el("span", { "class": "badge " + verdict, text: verdict }),
      kvBlock([kv("prediction", r.p, true), kv("extracted", r.x), kv("how it was decided", r.v, true),
               kv("tiles", r.t && r.t.length ? r.t.join(" + ") : "")])
    ]);
    if (r.pr || r.pp !== undefined) {
      var prompt = (r.pp !== undefined ? data.prefixes[r.pp] : "") + (r.pr || "");
      box.appendChild(el("details", { "class": "prompt" }, [el("summary", { text: "full prompt" }),
        el("pre", { text: prompt })]));
    }
    return box;
  }
  function card(s) {
    var v = verdictOf(s);
    var node = el("div", { "class": "sample " + v, "data-index": s.i, "data-benchmark": s.b });
    var thumb = el("div", { "class": "thumb" });
    if (s.img) { thumb.appendChild(el("img", { src: s.img, alt: "image of sample " + s.i })); }
    var opts = Object.keys(s.o).map(function (k) { return k + ". " + s.o[k]; }).join("\n");
    var body = el("div", {}, [
      el("div", { "class": "head", text: s.b + " · " + s.m + " · index " + s.i + (s.c ? " · " + s.c : "") }),
      kvBlock([kv("question", s.q, true), kv("options", opts, true), kv("answer", s.a)])
    ]);
    if (s.runs.length > 1) {
      var sides = el("div", { "class": "sides" });
      s.runs.forEach(function (r) { sides.appendChild(el("div", { "class": "side" }, [el("h4", { text: r.label }), runBlock(r)])); });
      body.appendChild(sides);
    } else {
      body.appendChild(runBlock(s.runs[0]));
    }
    node.appendChild(thumb);
    node.appendChild(body);
    return node;
  }

  function render() {
    var hits = samples.filter(matches);
    while (list.firstChild) { list.removeChild(list.firstChild); }
    hits.slice(0, shown).forEach(function (s) { list.appendChild(card(s)); });
    count.textContent = hits.length + " of " + samples.length + " samples";
    count.setAttribute("data-visible", String(hits.length));
    more.style.display = hits.length > shown ? "" : "none";
  }
  function reset() { shown = PAGE; render(); }
  fBench.addEventListener("change", function () { refreshCategories(); reset(); });
  [fModel, fCat, fVerdict, fFailed].forEach(function (f) { f.addEventListener("change", reset); });
  fSearch.addEventListener("input", reset);
  more.addEventListener("click", function () { shown += PAGE; render(); });
  render();
})();
