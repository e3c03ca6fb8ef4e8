// Live logs of a job run's page: each <pre class="log"> fetches its task attempt's log from the
// JSON API and keeps appending until the task has ended.
(function () {
  "use strict";
  function follow(pre) {
    let after = -1;
    const base = "/ajax-api/2.0/modelyard/jobs/runs/logs?job_run_id=" + encodeURIComponent(pre.dataset.run) +
      "&task=" + encodeURIComponent(pre.dataset.task) + "&attempt=" + encodeURIComponent(pre.dataset.attempt);
    function poll() {
      fetch(base + "&after=" + after).then(function (r) { return r.json(); }).then(function (page) {
        if (page.text) { pre.textContent += page.text; }
        after = page.next;
        if (!page.done || page.text) { setTimeout(poll, 1000); }
        else { pre.dataset.loaded = "true"; }
      }).catch(function () { setTimeout(poll, 3000); });
    }
    poll();
  }
  document.querySelectorAll("pre.log").forEach(follow);
})();
