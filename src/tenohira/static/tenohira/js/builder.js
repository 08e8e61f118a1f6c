/* フォーム作成: progressive enhancement of the builder's pages. Every action here is also
   a button that works without JavaScript; this file only adds
   - drag reordering of fields (posts the same move action as the buttons),
   - inline editing of a field's label (click the label, Enter or leaving saves, Esc undoes),
   - a preview that reloads after each change,
   - the browser's confirm dialog before 削除 (instead of the confirmation page),
   - condition pickers that show the chosen field's answers at once. */
(function () {
  "use strict";
  var root = document.querySelector("[data-builder]");
  var csrf = document.querySelector("input[name=csrfmiddlewaretoken]");

  function refreshPreview() {
    var frame = document.querySelector(".builder-preview__frame");
    if (frame && frame.contentWindow) { frame.contentWindow.location.reload(); }
  }

  function post(fields) {
    var body = new URLSearchParams();
    body.append("csrfmiddlewaretoken", csrf.value);
    body.append("revision", root.getAttribute("data-revision"));
    Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    return fetch(root.getAttribute("data-action"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-Requested-With": "builder", "Content-Type": "application/x-www-form-urlencoded" }
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok || !data.ok) {
          window.alert(data.error || "保存できませんでした。");
          window.location.reload();
          return;
        }
        root.setAttribute("data-revision", data.revision);
        // Every form of the page carries the revision it was shown with.
        document.querySelectorAll("input[name=revision]").forEach(function (input) { input.value = data.revision; });
        refreshPreview();
      });
    }).catch(function () { window.location.reload(); });
  }

  // 削除: the browser's dialog; confirmed, the button sends the confirmed action directly.
  document.querySelectorAll("button[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.getAttribute("data-confirm"))) { event.preventDefault(); return; }
      button.value = button.getAttribute("data-confirmed-value");
    });
  });

  // Condition pickers: the answers of the chosen field only.
  document.querySelectorAll("[data-condition]").forEach(function (picker) {
    var select = picker.querySelector("[data-condition-source]");
    if (!select) { return; }
    var refresh = picker.querySelector("[data-condition-refresh]");
    if (refresh) { refresh.hidden = true; }
    function show() {
      picker.querySelectorAll("[data-condition-values]").forEach(function (group) {
        var on = group.getAttribute("data-condition-values") === select.value;
        group.hidden = !on;
        group.querySelectorAll("input").forEach(function (input) { input.disabled = !on; });
      });
    }
    select.addEventListener("change", show);
    show();
  });

  if (!root) { return; }

  // Inline label editing.
  document.querySelectorAll("[data-label]").forEach(function (label) {
    label.setAttribute("data-editable", "");
    label.setAttribute("tabindex", "0");
    label.setAttribute("role", "button");
    label.setAttribute("aria-label", label.textContent + "（クリックして項目名を変更）");
    function edit() {
      var input = document.createElement("input");
      input.className = "input input--compact builder-inline-input";
      input.value = label.textContent;
      input.maxLength = 200;
      input.setAttribute("aria-label", "項目名");
      var original = label.textContent;
      var done = false;
      function finish(save) {
        if (done) { return; }
        done = true;
        var value = input.value.trim();
        input.replaceWith(label);
        if (save && value && value !== original) {
          label.textContent = value;
          post({ action: "label:" + label.getAttribute("data-label"), label: value });
        }
        label.focus();
      }
      input.addEventListener("keydown", function (event) {
        // Enter saves the label and never sends a form (or presses any other button).
        if (event.key === "Enter") { event.preventDefault(); finish(true); }
        if (event.key === "Escape") { event.preventDefault(); finish(false); }
      });
      input.addEventListener("blur", function () { finish(true); });
      label.replaceWith(input);
      input.focus();
      input.select();
    }
    label.addEventListener("click", edit);
    label.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); edit(); }
    });
  });

  // Drag reordering of a page's fields (also onto another page).
  var dragged = null;
  document.querySelectorAll("li[data-field]").forEach(function (item) {
    item.setAttribute("draggable", "true");
    item.addEventListener("dragstart", function (event) {
      dragged = item;
      item.classList.add("is-dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", item.getAttribute("data-field"));
    });
    item.addEventListener("dragend", function () {
      item.classList.remove("is-dragging");
      document.querySelectorAll(".is-drop-target").forEach(function (el) { el.classList.remove("is-drop-target"); });
    });
  });
  document.querySelectorAll("ol[data-step]").forEach(function (list) {
    list.addEventListener("dragover", function (event) {
      if (!dragged) { return; }
      event.preventDefault();
      var target = event.target.closest("li[data-field]");
      document.querySelectorAll(".is-drop-target").forEach(function (el) { el.classList.remove("is-drop-target"); });
      if (target && target !== dragged) { target.classList.add("is-drop-target"); }
    });
    list.addEventListener("drop", function (event) {
      if (!dragged) { return; }
      event.preventDefault();
      var target = event.target.closest("li[data-field]");
      var empty = list.querySelector(".builder-empty");
      if (target && target !== dragged && target.parentNode === list) {
        list.insertBefore(dragged, target);
      } else if (!target) {
        list.appendChild(dragged);
      }
      if (empty) { empty.remove(); }
      var position = Array.prototype.indexOf.call(list.querySelectorAll(":scope > li[data-field]"), dragged);
      post({ action: "move_to", field: dragged.getAttribute("data-field"), step: list.getAttribute("data-step"),
             position: String(position) });
      dragged = null;
    });
  });
})();
