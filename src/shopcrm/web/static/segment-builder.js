/* shopcrm segment builder: edits a rule tree (the JSON the API takes) with plain DOM
   controls — groups (all of / any of), conditions of every kind, "not" on any of them —
   keeps it in the form's hidden "definition" field and fires "rule-changed" on the form,
   which HTMX turns into a live size estimate. The catalogue (fields, operators, tags,
   segments) and every label come from JSON the server embeds in the page, already in
   the user's language. No inline scripts, no eval: the page's CSP holds. */
(function () {
  "use strict";

  var COMPARE = ["eq", "ne", "gt", "gte", "lt", "lte", "between"];
  var LISTS = { "in": 1, "not_in": 1, "contains_any": 1 };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; }
      else if (k === "className") { node.className = attrs[k]; }
      else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  function select(options, value, label, onChange) {
    var s = el("select", { "aria-label": label });
    options.forEach(function (o) {
      var opt = el("option", { value: String(o[0]), text: o[1] });
      if (String(o[0]) === String(value)) { opt.selected = true; }
      s.appendChild(opt);
    });
    s.addEventListener("change", function () { onChange(s.value); });
    return s;
  }

  function input(type, value, label, onChange, extra) {
    var i = el("input", Object.assign({ type: type, "aria-label": label }, extra || {}));
    i.value = value === null || value === undefined ? "" : String(value);
    i.addEventListener("change", function () { onChange(i.value); });
    return i;
  }

  function Builder(form, config) {
    this.form = form;
    this.c = config;
    this.L = config.labels;
    this.field = form.querySelector('input[name="definition"]');
    this.box = form.querySelector(".builder-tree");
    var start = null;
    try { start = this.field.value ? JSON.parse(this.field.value) : null; } catch (e) { start = null; }
    if (!start || (start.kind !== "and" && start.kind !== "or")) {
      start = { kind: "and", children: start ? [start] : [] };
    }
    this.state = start;
    this.render();
    var form = this.form;
    /* the first count, once HTMX listens (its listeners are set up on the same event) */
    window.setTimeout(function () {
      form.dispatchEvent(new CustomEvent("rule-changed", { bubbles: true }));
    }, 0);
  }

  Builder.prototype.label = function (key) { return this.L[key] || key; };

  Builder.prototype.changed = function () {
    this.field.value = JSON.stringify(this.state);
    this.render();
    this.form.dispatchEvent(new CustomEvent("rule-changed", { bubbles: true }));
  };

  Builder.prototype.render = function () {
    this.field.value = JSON.stringify(this.state);
    this.box.textContent = "";
    this.box.appendChild(this.group(this.state, "rule", null));
  };

  Builder.prototype.fields = function (kind) {
    var c = this.c;
    return { feature: c.features, attribute: c.attributes, loyalty: c.loyalty, clv: c.clv }[kind];
  };

  Builder.prototype.typeOf = function (list, name) {
    for (var i = 0; i < list.length; i++) { if (list[i].name === name) { return list[i].type; } }
    return list.length ? list[0].type : "string";
  };

  Builder.prototype.fresh = function (kind) {
    var c = this.c;
    if (kind === "and" || kind === "or") { return { kind: kind, children: [this.fresh("feature")] }; }
    if (kind === "tag") { return { kind: "tag", tag: c.tags.length ? c.tags[0][0] : "" }; }
    if (kind === "segment") { return { kind: "segment", segment: c.segments.length ? c.segments[0][0] : 0 }; }
    if (kind === "behaviour") {
      return { kind: "behaviour", of: "purchases", where: [], window: { days: 30 },
               aggregate: "count", op: "gte", value: 1 };
    }
    var list = this.fields(kind);
    var first = list.length ? list[0] : { name: "", type: "string" };
    return { kind: kind, field: first.name, op: c.operators[first.type][0], value: null };
  };

  /* a group: all of / any of, its children, buttons to add */
  Builder.prototype.group = function (node, path, remove) {
    var self = this;
    var box = el("div", { className: "rule-group", "data-path": path });
    var head = el("div", { className: "rule-head" });
    head.appendChild(select([["and", this.label("all of")], ["or", this.label("any of")]], node.kind,
      this.label("Combine"), function (v) { node.kind = v; self.changed(); }));
    var list = el("div", { className: "rule-children" });
    node.children.forEach(function (child, i) {
      list.appendChild(self.item(node.children, i, path + ".children[" + i + "]"));
    });
    var add = el("button", { type: "button", className: "secondary", text: "+ " + this.label("Condition") });
    add.addEventListener("click", function () { node.children.push(self.fresh("feature")); self.changed(); });
    var sub = el("button", { type: "button", className: "secondary", text: "+ " + this.label("Group") });
    sub.addEventListener("click", function () { node.children.push(self.fresh("or")); self.changed(); });
    var tools = el("div", { className: "rule-tools" }, [add, sub]);
    if (remove) { tools.appendChild(remove); }
    box.appendChild(head);
    box.appendChild(list);
    box.appendChild(tools);
    return box;
  };

  /* one child of a group: a condition or a sub-group, with "not" and remove */
  Builder.prototype.item = function (siblings, index, path) {
    var self = this;
    var node = siblings[index];
    var negated = node.kind === "not";
    var inner = negated ? node.child : node;
    var innerPath = negated ? path + ".child" : path;
    var not = el("label", { className: "rule-not" });
    var box = el("input", { type: "checkbox" });
    box.checked = negated;
    box.addEventListener("change", function () {
      siblings[index] = box.checked ? { kind: "not", child: inner } : inner;
      self.changed();
    });
    not.appendChild(box);
    not.appendChild(document.createTextNode(" " + this.label("not")));
    var remove = el("button", { type: "button", className: "link", text: this.label("Remove") });
    remove.addEventListener("click", function () { siblings.splice(index, 1); self.changed(); });
    var wrap = el("div", { className: "rule-item" + (negated ? " negated" : "") });
    wrap.appendChild(not);
    if (inner.kind === "and" || inner.kind === "or") {
      wrap.appendChild(this.group(inner, innerPath, remove));
    } else {
      wrap.appendChild(this.condition(inner, innerPath, function (replacement) {
        siblings[index] = negated ? { kind: "not", child: replacement } : replacement;
        self.changed();
      }, remove));
    }
    return wrap;
  };

  Builder.prototype.condition = function (node, path, replace, remove) {
    var self = this;
    var c = this.c;
    var row = el("div", { className: "rule-cond", "data-path": path });
    var kinds = ["feature", "behaviour", "attribute", "tag", "loyalty", "segment"];
    if (c.clv_available || node.kind === "clv") { kinds.push("clv"); }
    row.appendChild(select(kinds.map(function (k) { return [k, self.label(k)]; }), node.kind,
      this.label("Condition"), function (v) { replace(self.fresh(v)); }));
    if (node.kind === "tag") {
      row.appendChild(select(c.tags, node.tag, this.label("tag"), function (v) { node.tag = v; self.changed(); }));
    } else if (node.kind === "segment") {
      row.appendChild(select(c.segments, node.segment, this.label("segment"),
        function (v) { node.segment = parseInt(v, 10); self.changed(); }));
    } else if (node.kind === "behaviour") {
      this.behaviour(node, row);
    } else {
      var list = this.fields(node.kind);
      row.appendChild(select(list.map(function (f) { return [f.name, self.label(f.name)]; }), node.field,
        this.label("Field"), function (v) {
          node.field = v;
          var ops = c.operators[self.typeOf(list, v)];
          if (ops.indexOf(node.op) < 0) { node.op = ops[0]; }
          node.value = null;
          self.changed();
        }));
      this.comparison(node, this.typeOf(list, node.field), c.operators[this.typeOf(list, node.field)], row);
    }
    row.appendChild(remove);
    return row;
  };

  /* operator and value(s) for a field of a type */
  Builder.prototype.comparison = function (node, type, ops, row) {
    var self = this;
    row.appendChild(select(ops.map(function (o) { return [o, self.label("op:" + o)]; }), node.op,
      this.label("Operator"), function (v) {
        var was = node.op;
        node.op = v;
        if (v === "is_null" || v === "not_null") { node.value = null; }
        else if (v === "between" || LISTS[v] || LISTS[was] || was === "between") { node.value = null; }
        self.changed();
      }));
    var numeric = type === "integer" || type === "number" || type === "money";
    var temporal = type === "date" || type === "timestamp";
    function parse(text) {
      if (text === "") { return null; }
      if (numeric || node.op === "within_days" || node.op === "older_than_days") {
        var n = Number(text);
        return isNaN(n) ? text : n;
      }
      return text;
    }
    var kind = numeric ? "number" : (temporal && node.op !== "within_days" && node.op !== "older_than_days" ? "date" : "text");
    if (node.op === "within_days" || node.op === "older_than_days") { kind = "number"; }
    if (node.op === "top" || node.op === "bottom") { kind = "number"; }
    if (node.op === "is_null" || node.op === "not_null") { return; }
    var step = kind === "number" ? { step: "any" } : {};
    if (node.op === "between") {
      var pair = Array.isArray(node.value) ? node.value : [null, null];
      row.appendChild(input(kind, pair[0], this.label("From"), function (v) {
        node.value = [parse(v), pair[1]]; self.changed(); }, step));
      row.appendChild(input(kind, pair[1], this.label("To"), function (v) {
        node.value = [pair[0], parse(v)]; self.changed(); }, step));
    } else if (LISTS[node.op]) {
      var shown = Array.isArray(node.value) ? node.value.join(", ") : "";
      row.appendChild(input("text", shown, this.label("Values, comma separated"), function (v) {
        node.value = v.split(/[,，]/).map(function (s) { return parse(s.trim()); })
          .filter(function (s) { return s !== null && s !== ""; });
        self.changed();
      }, { placeholder: this.label("a, b, c") }));
    } else {
      var extra = Object.assign({}, step);
      if (node.op === "top" || node.op === "bottom") { extra.placeholder = "0.1"; }
      if (node.op === "within_days" || node.op === "older_than_days") {
        extra.placeholder = this.label("days");
      }
      row.appendChild(input(kind, node.value, this.label("Value"), function (v) {
        node.value = parse(v); self.changed(); }, extra));
    }
  };

  Builder.prototype.behaviour = function (node, row) {
    var self = this;
    var c = this.c;
    row.appendChild(select(["purchases", "orders", "items", "events"].map(function (o) {
      return [o, self.label("of:" + o)]; }), node.of, this.label("Facts"), function (v) {
        node.of = v; node.where = []; node.event_type = null;
        if (node.aggregate !== "count") { node.aggregate = "count"; node.field = null; }
        self.changed();
      }));
    if (node.of === "events") {
      var types = [["", this.label("any event")]].concat(c.event_types.map(function (t) {
        return [t, self.label("event:" + t)]; }));
      row.appendChild(select(types, node.event_type || "", this.label("Event"), function (v) {
        node.event_type = v || null; self.changed(); }));
    }
    (node.where || []).forEach(function (flt, i) {
      var fields = c.behaviour_filters[node.of];
      var part = el("span", { className: "rule-filter" });
      part.appendChild(document.createTextNode(self.label("where") + " "));
      part.appendChild(select(fields.map(function (f) { return [f.name, self.label(f.name)]; }), flt.field,
        self.label("Field"), function (v) {
          flt.field = v; flt.op = c.operators[self.typeOf(fields, v)][0]; flt.value = null; self.changed(); }));
      self.comparison(flt, self.typeOf(fields, flt.field),
        c.operators[self.typeOf(fields, flt.field)].filter(function (o) {
          return o !== "top" && o !== "bottom"; }), part);
      var drop = el("button", { type: "button", className: "link", text: "×", "aria-label": self.label("Remove") });
      drop.addEventListener("click", function () { node.where.splice(i, 1); self.changed(); });
      part.appendChild(drop);
      row.appendChild(part);
    });
    var addFilter = el("button", { type: "button", className: "link", text: "+ " + this.label("filter") });
    addFilter.addEventListener("click", function () {
      var f = c.behaviour_filters[node.of][0];
      node.where = (node.where || []).concat([{ field: f.name, op: c.operators[f.type][0], value: null }]);
      self.changed();
    });
    row.appendChild(addFilter);
    var mode = !node.window ? "all" : (node.window.since ? "since" : "days");
    row.appendChild(select([["days", this.label("in the last … days")], ["since", this.label("since")],
      ["all", this.label("ever")]], mode, this.label("Window"), function (v) {
        node.window = v === "all" ? null : (v === "since" ? { since: new Date().toISOString().slice(0, 10) } : { days: 30 });
        self.changed();
      }));
    if (mode === "days") {
      row.appendChild(input("number", node.window.days, this.label("days"), function (v) {
        node.window = { days: v === "" ? null : Number(v) }; self.changed(); }, { step: "1" }));
    } else if (mode === "since") {
      row.appendChild(input("date", node.window.since, this.label("since"), function (v) {
        node.window.since = v || null; self.changed(); }));
      row.appendChild(input("date", node.window.until, this.label("until"), function (v) {
        if (v) { node.window.until = v; } else { delete node.window.until; }
        self.changed(); }));
    }
    row.appendChild(select(["count", "count_distinct", "sum", "avg", "min", "max"].map(function (a) {
      return [a, self.label("agg:" + a)]; }), node.aggregate, this.label("Aggregate"), function (v) {
        node.aggregate = v;
        if (v === "count") { node.field = null; }
        else if (v === "count_distinct") { node.field = c.behaviour_distinct[node.of][0]; }
        else { node.field = c.behaviour_aggregates[node.of][0].name; }
        self.changed();
      }));
    if (node.aggregate === "count_distinct") {
      row.appendChild(select(c.behaviour_distinct[node.of].map(function (f) { return [f, self.label(f)]; }),
        node.field, this.label("Field"), function (v) { node.field = v; self.changed(); }));
    } else if (node.aggregate !== "count") {
      row.appendChild(select(c.behaviour_aggregates[node.of].map(function (f) { return [f.name, self.label(f.name)]; }),
        node.field, this.label("Field"), function (v) { node.field = v; self.changed(); }));
    }
    this.comparison(node, "number", COMPARE, row);
  };

  /* mark the conditions the server's estimate found wrong (paths in data-paths) */
  function markProblems(form, target) {
    form.querySelectorAll("[data-path].invalid").forEach(function (n) { n.classList.remove("invalid"); });
    var holder = target.querySelector("[data-paths]");
    if (!holder) { return; }
    JSON.parse(holder.getAttribute("data-paths")).forEach(function (path) {
      var best = null;
      form.querySelectorAll("[data-path]").forEach(function (n) {
        var p = n.getAttribute("data-path");
        if (path === p || path.indexOf(p + ".") === 0) {
          if (!best || p.length > best.getAttribute("data-path").length) { best = n; }
        }
      });
      if (best) { best.classList.add("invalid"); }
    });
  }

  function start(root) {
    root.querySelectorAll("form[data-builder]").forEach(function (form) {
      if (form.builder) { return; }
      var config = JSON.parse(document.getElementById(form.getAttribute("data-builder")).textContent);
      form.builder = new Builder(form, config);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { start(document); });
  document.addEventListener("htmx:afterSwap", function (event) {
    var form = document.querySelector("form[data-builder]");
    if (form && event.target && event.target.id === "estimate") { markProblems(form, event.target); }
  });
})();
