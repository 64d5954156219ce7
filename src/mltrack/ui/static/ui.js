// mltrack UI: MLflow's hash links, and a keyboard shortcut. No network beyond this server.
"use strict";

// The MLflow client prints links such as http://host/#/experiments/1/runs/<id>;
// open the matching server-rendered page instead.
(function routeMlflowHash() {
  var hash = window.location.hash;
  if (!hash || hash.indexOf("#/") !== 0) return;
  var path = hash.slice(2).split("?")[0];
  var parts = path.split("/").map(decodeURIComponent);
  var enc = encodeURIComponent;
  var target = null;
  if (parts[0] === "compare-runs") {
    // #/compare-runs?runs=["id1","id2"]&experiments=[...]
    var ids = [];
    try {
      ids = JSON.parse(new URLSearchParams(hash.split("?")[1] || "").get("runs") || "[]");
    } catch (error) { ids = []; }
    if (!Array.isArray(ids)) ids = [];
    target = "/compare?" + ids.map(function (id) { return "runs=" + enc(String(id)); }).join("&");
  } else if (parts[0] === "experiments" && parts[1]) {
    target = "/experiments/" + enc(parts[1]);
    if (parts[2] === "runs" && parts[3]) target += "/runs/" + enc(parts[3]);
  } else if ((parts[0] === "models" || parts[0] === "registered-models") && parts[1]) {
    target = "/models/" + enc(parts[1]);
    if (parts[2] === "versions" && /^\d+$/.test(parts[3] || "")) target += "/versions/" + parts[3];
  } else if (parts[0] === "models" || parts[0] === "experiments") {
    target = "/" + parts[0];
  }
  if (target) window.location.replace(target);
})();

// "/" focuses the page's search or filter box, as in most web apps.
document.addEventListener("keydown", function (event) {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  var tag = (document.activeElement && document.activeElement.tagName) || "";
  if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
  var box = document.querySelector("input[type=search]");
  if (box) { event.preventDefault(); box.focus(); box.select(); }
});
