// MLflow's UI links (http://host:5000/#/experiments/3/runs/<id>, #/models/<name>/versions/2,
// #/compare-runs?runs=[...]) land on our pages: "#/<route>" becomes the path "/<route>", which the
// server answers or redirects (modelyard/ui/pages/mlflow_links.py). Runs in the head, before paint.
(function () {
  var hash = window.location.hash;
  if (hash.indexOf("#/") !== 0) return;
  var target = hash.slice(1);
  // Same site only: "#//host" or "#/\host" would leave it.
  if (!/^\/(?![\/\\])/.test(target)) return;
  window.location.replace(target === "/" ? "/experiments" : target);
})();
