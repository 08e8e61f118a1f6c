/* Progressive enhancement for form pages. Everything here mirrors what the server does
   anyway: the server decides conditions, fills addresses, computes fees, asks before a
   row is removed and refuses double submits. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-form]");

  function valuesOf(name, scope) {
    var inputs = (scope || form).querySelectorAll('[name="' + name + '"]');
    var out = [];
    inputs.forEach(function (el) {
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      if (el.type === "file" || el.type === "submit") return;
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

  /* --- computed values (forms/expressions.py, evaluated the same way) --- */

  function toNumber(value) {
    if (value === null || value === undefined || value === "" || typeof value === "boolean") return 0;
    // Full-width digits and commas, and a unit after the number, as the server accepts them.
    var text = String(value).replace(/[０-９．－]/g, function (c) {
      return String.fromCharCode(c.charCodeAt(0) - 0xfee0);
    }).replace(/[,，]/g, "").trim();
    var number = parseFloat(text);
    return isNaN(number) ? 0 : number;
  }

  // A scope answers get(name) and rows(group): the page's inputs first, then what the
  // server sent for answers given on earlier pages (data.known).
  function pageScope(data) {
    return {
      get: function (name) {
        if (form.querySelector('[name="' + name + '"]')) return valuesOf(name)[0];
        return data.known[name];
      },
      rows: function (group) {
        var box = form.querySelector("#f-" + group);
        if (!box) return (data.known[group] || []).map(function (row) { return objectScope(row, this); }, this);
        var parent = this;
        return Array.prototype.map.call(box.querySelectorAll(".group__row"), function (_row, index) {
          return rowScope(group, index, parent);
        });
      }
    };
  }

  function rowScope(group, index, parent) {
    return {
      get: function (name) {
        var full = group + "-" + index + "-" + name;
        if (form.querySelector('[name="' + full + '"]')) return valuesOf(full)[0];
        return parent.get(name);
      },
      rows: function (g) { return parent.rows(g); }
    };
  }

  function objectScope(row, parent) {
    return {
      get: function (name) { return name in row ? row[name] : parent.get(name); },
      rows: function (g) { return parent.rows(g); }
    };
  }

  function evaluate(expr, scope, data) {
    if (typeof expr === "number") return expr;
    var op = Object.keys(expr)[0];
    var arg = expr[op];
    if (op === "add") return arg.reduce(function (sum, part) { return sum + evaluate(part, scope, data); }, 0);
    if (op === "mul") return arg.reduce(function (product, part) { return product * evaluate(part, scope, data); }, 1);
    if (op === "field") return toNumber(scope.get(arg));
    if (op === "option") {
      var table = (data.options[arg[0]] || {})[arg[1]] || {};
      return toNumber(table[scope.get(arg[0])]);
    }
    if (op === "count") return scope.rows(arg).length;
    if (op === "sum_over") {
      return scope.rows(arg[0]).reduce(function (sum, row) { return sum + evaluate(arg[1], row, data); }, 0);
    }
    return 0;
  }

  function formatValue(value, format) {
    if (format === "yen") return Math.round(value).toLocaleString("ja-JP") + "円";
    return String(Math.round(value * 100) / 100);
  }

  function recompute() {
    form.querySelectorAll("output[data-compute]").forEach(function (out) {
      var data = JSON.parse(out.getAttribute("data-compute"));
      var text = formatValue(evaluate(data.expression, pageScope(data), data), data.format);
      if (out.textContent !== text) out.textContent = text;
    });
  }

  function refresh() {
    form.querySelectorAll("[data-show-if]").forEach(function (el) {
      var show = holds(JSON.parse(el.getAttribute("data-show-if")), el);
      el.hidden = !show;
      var hint = el.querySelector(".condition-hint");
      if (hint) hint.hidden = true;
    });
    recompute();
  }

  if (form) {
    // The value is now kept up to date here: the no-script hint would only confuse.
    form.querySelectorAll("[data-computed-later]").forEach(function (el) { el.hidden = true; });
    refresh();
    form.addEventListener("change", refresh);
    form.addEventListener("input", recompute);
    form.addEventListener("click", function (event) {
      // 削除 of a row: asked here instead of on a page of its own (the server asks when
      // there is no script); only a confirmed press removes the row.
      var remove = event.target.closest("button[data-confirm]");
      if (remove) {
        if (window.confirm(remove.getAttribute("data-confirm"))) {
          remove.value = remove.getAttribute("data-confirmed-value");
        } else {
          event.preventDefault();
        }
        return;
      }
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
