/* Progressive enhancement for form pages. Everything here mirrors what the server does
   anyway: the server decides conditions, fills addresses and refuses double submits. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-form]");

  function valuesOf(name, scope) {
    var inputs = (scope || form).querySelectorAll('[name="' + name + '"]');
    var out = [];
    inputs.forEach(function (el) {
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      if (el.value) out.push(el.value);
    });
    return out;
  }

  function resolve(name, el) {
    // Inside a group row, a sibling named g-i-name wins over a top-level field.
    var row = el.closest(".group__row");
    if (row) {
      var sibling = row.querySelector('[name$="-' + name + '"]');
      if (sibling) return sibling.name;
    }
    return name;
  }

  function holds(cond, el) {
    if (!cond) return true;
    if (cond.all) return cond.all.every(function (c) { return holds(c, el); });
    if (cond.any) return cond.any.some(function (c) { return holds(c, el); });
    if (cond.not) return !holds(cond.not, el);
    var values = valuesOf(resolve(cond.field, el));
    var norm = function (v) { return v === true ? "yes" : v === false ? "no" : String(v); };
    if ("equals" in cond) return values.indexOf(norm(cond.equals)) !== -1;
    if ("in" in cond) return cond["in"].some(function (v) { return values.indexOf(norm(v)) !== -1; });
    if ("contains" in cond) return values.indexOf(norm(cond.contains)) !== -1;
    return (values.length > 0) === Boolean(cond.answered);
  }

  function refresh() {
    form.querySelectorAll("[data-show-if]").forEach(function (el) {
      var show = holds(JSON.parse(el.getAttribute("data-show-if")), el);
      el.hidden = !show;
      var hint = el.querySelector(".condition-hint");
      if (hint) hint.hidden = true;
    });
  }

  if (form) {
    refresh();
    form.addEventListener("change", refresh);
    form.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-lookup]");
      if (!button || !window.fetch) return;
      var prefix = button.getAttribute("data-lookup");
      var code = form.querySelector('[name="' + prefix + '__postal_code"]');
      event.preventDefault();
      fetch("/api/v1/postal-codes/" + encodeURIComponent(code.value.trim()))
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r); })
        .then(function (data) {
          code.value = data.postal_code;
          ["prefecture", "city", "town"].forEach(function (part) {
            form.querySelector('[name="' + prefix + "__" + part + '"]').value = data[part];
          });
          var street = form.querySelector('[name="' + prefix + '__street"]');
          if (street && data.street && !street.value) street.value = data.street;
          if (street) street.focus();
        })
        .catch(function () { button.removeAttribute("data-lookup"); button.click(); });
    });
  }

  document.querySelectorAll("form[data-once]").forEach(function (f) {
    f.addEventListener("submit", function () {
      var b = f.querySelector("button[type=submit]");
      if (b) { setTimeout(function () { b.disabled = true; }, 0); }
    });
  });

  var summary = document.querySelector("[data-autofocus]");
  if (summary) summary.focus();
})();
