// Registry pages (model and version): descriptions, tags, aliases and stage transitions.
// Every change is a JSON call to /ajax-api (window.modelyard.api). The page says what it is about
// in #registry-target: data-name (the model) and, on a version page, data-version.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    const my = window.modelyard;
    const target = document.getElementById("registry-target");
    if (!my || !target) return;
    const name = target.dataset.name;
    const version = target.dataset.version; // undefined on the model page
    const onVersion = version !== undefined;
    const ref = onVersion ? { name: name, version: version } : { name: name };
    const base = onVersion ? "model-versions/" : "registered-models/";

    function reload() { window.location.reload(); }

    // -- description, edited in place ------------------------------------------------------------
    const card = document.getElementById("description");
    if (card) {
      const text = card.querySelector(".description-text");
      const editor = card.querySelector(".description-editor");
      const area = editor.querySelector("textarea");
      const edit = card.querySelector(".edit-description");
      let saved = area.value;
      function close() { editor.hidden = true; text.hidden = false; edit.hidden = false; }
      edit.addEventListener("click", function () {
        area.value = saved;
        editor.hidden = false; text.hidden = true; edit.hidden = true;
        area.focus();
      });
      card.querySelector(".cancel-description").addEventListener("click", close);
      card.querySelector(".save-description").addEventListener("click", function (ev) {
        const value = area.value;
        my.act(ev.target, async function () {
          await my.api(base + "update", Object.assign({ description: value }, ref), "PATCH");
          reload();  // the server renders the markdown (sanitised)
        });
      });
    }

    // -- tags ------------------------------------------------------------------------------------
    const tags = document.getElementById("tags");
    if (tags) {
      const keyInput = tags.querySelector(".tag-key");
      const valueInput = tags.querySelector(".tag-value");
      tags.querySelector(".set-tag").addEventListener("click", function (ev) {
        const key = keyInput.value.trim();
        if (!key) { my.flash("Give the tag a key.", "error"); return; }
        my.act(ev.target, async function () {
          await my.api(base + "set-tag", Object.assign({ key: key, value: valueInput.value }, ref));
          reload();
        });
      });
      tags.querySelectorAll("tr[data-key]").forEach(function (row) {
        row.querySelector(".edit-tag").addEventListener("click", function () {
          keyInput.value = row.dataset.key;
          valueInput.value = row.dataset.value;
          valueInput.focus();
        });
        row.querySelector(".delete-tag").addEventListener("click", function (ev) {
          if (!window.confirm("Delete the tag " + row.dataset.key + "?")) return;
          my.act(ev.target, async function () {
            await my.api(base + "delete-tag", Object.assign({ key: row.dataset.key }, ref), "DELETE");
            reload();
          });
        });
      });
    }

    if (!onVersion) return;

    // -- aliases (version page) ------------------------------------------------------------------
    const aliasInput = document.getElementById("alias-input");
    function setAlias(ev) {
      const alias = aliasInput.value.trim();
      if (!alias) { my.flash("Type an alias name, e.g. champion.", "error"); return; }
      if (!/^[A-Za-z0-9_-]+$/.test(alias)) {
        my.flash("An alias may only contain letters, digits, underscores (_) and dashes (-).", "error");
        return;
      }
      my.act(ev.target, async function () {
        await my.api("registered-models/alias", { name: name, alias: alias, version: version });
        reload();
      });
    }
    document.getElementById("set-alias").addEventListener("click", setAlias);
    aliasInput.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") { ev.preventDefault(); setAlias({ target: document.getElementById("set-alias") }); }
    });
    document.querySelectorAll("#version-aliases [data-alias]").forEach(function (badge) {
      badge.querySelector(".delete-alias").addEventListener("click", function (ev) {
        const alias = badge.dataset.alias;
        if (!window.confirm("Delete the alias @" + alias + "?")) return;
        my.act(ev.target, async function () {
          await my.api("registered-models/alias", { name: name, alias: alias }, "DELETE");
          reload();
        });
      });
    });

    // -- stage transition (version page) ---------------------------------------------------------
    document.getElementById("transition-stage").addEventListener("click", function (ev) {
      const stage = document.getElementById("stage-select").value;
      const archive = document.getElementById("archive-existing").checked;
      my.act(ev.target, async function () {
        await my.api("model-versions/transition-stage", {
          name: name, version: version, stage: stage, archive_existing_versions: archive,
        });
        reload();
      });
    });
  });
})();
