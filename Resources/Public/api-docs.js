"use strict";
(function () {
  const methods = ["get", "post", "put", "patch", "delete"];
  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }
  function resolve(doc, value) {
    let seen = 0;
    while (value && value.$ref && seen++ < 10) {
      value = value.$ref.replace(/^#\//, "").split("/").reduce((node, key) => node && node[key], doc);
    }
    return value || {};
  }
  function schemaText(doc, schema, depth) {
    schema = resolve(doc, schema);
    if (depth > 4) return schema.type || "…";
    if (schema.oneOf) return schema.oneOf.map((s) => schemaText(doc, s, depth + 1)).join(" | ");
    if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
    if (schema.const !== undefined) return JSON.stringify(schema.const);
    if (schema.type === "array") return "[" + schemaText(doc, schema.items || {}, depth + 1) + "]";
    if (schema.type === "object" && schema.properties) {
      const required = new Set(schema.required || []);
      const pad = "  ".repeat(depth + 1);
      const lines = Object.keys(schema.properties).map((name) =>
        pad + name + (required.has(name) ? "" : "?") + ": " + schemaText(doc, schema.properties[name], depth + 1));
      return "{\n" + lines.join("\n") + "\n" + "  ".repeat(depth) + "}";
    }
    const bounds = [];
    if (schema.format) bounds.push(schema.format);
    if (schema.minLength !== undefined) bounds.push("≥" + schema.minLength + " chars");
    if (schema.maxLength !== undefined) bounds.push("≤" + schema.maxLength + " chars");
    if (schema.minimum !== undefined) bounds.push("≥" + schema.minimum);
    if (schema.maximum !== undefined) bounds.push("≤" + schema.maximum);
    if (schema.pattern) bounds.push("/" + schema.pattern + "/");
    return (schema.type || "any") + (bounds.length ? " (" + bounds.join(", ") + ")" : "");
  }
  function operation(doc, path, method, op, shared) {
    const section = el("section", null, "op");
    section.id = op.operationId || method + path;
    const head = el("h3");
    head.append(el("code", method.toUpperCase() + " " + path));
    section.append(head, el("p", op.summary));
    if (op.description) section.append(el("p", op.description, "payload"));
    const security = op.security || doc.security || [];
    const schemes = security.map((entry) => Object.keys(entry).join(" + ") || "none");
    section.append(el("p", "Authentication: " + (schemes.length ? schemes.join(" or ") : "none")));
    const parameters = (shared || []).concat(op.parameters || []).map((p) => resolve(doc, p));
    if (parameters.length) {
      const table = el("table");
      parameters.forEach((p) => {
        const row = el("tr");
        row.append(el("td", p.name), el("td", p.in), el("td", p.required ? "required" : "optional"),
          el("td", schemaText(doc, p.schema || {}, 0)));
        table.append(row);
      });
      section.append(el("h4", "Parameters"), table);
    }
    if (op.requestBody) {
      const body = resolve(doc, op.requestBody);
      Object.keys(body.content || {}).forEach((type) => {
        section.append(el("h4", "Body (" + type + ")"), el("pre", schemaText(doc, body.content[type].schema || {}, 0)));
      });
    }
    const table = el("table");
    Object.keys(op.responses || {}).sort().forEach((status) => {
      const response = resolve(doc, op.responses[status]);
      const types = Object.keys(response.content || {});
      const row = el("tr");
      const shape = types.map((type) => type + " " + schemaText(doc, response.content[type].schema || {}, 0)).join("\n");
      const cell = el("td");
      cell.append(el("pre", shape));
      row.append(el("td", status), el("td", response.description), cell);
      table.append(row);
    });
    section.append(el("h4", "Responses"), table);
    return section;
  }
  fetch("/api/openapi.json", { headers: { Accept: "application/json" } })
    .then((response) => response.json())
    .then((doc) => {
      document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
      const count = { operations: 0 };
      const groups = new Map();
      Object.keys(doc.paths).sort().forEach((path) => {
        const item = doc.paths[path];
        methods.filter((m) => item[m]).forEach((method) => {
          count.operations += 1;
          const tag = (item[method].tags || ["other"])[0];
          if (!groups.has(tag)) groups.set(tag, []);
          groups.get(tag).push(operation(doc, path, method, item[method], item.parameters));
        });
      });
      document.getElementById("summary").textContent = count.operations + " operations. " + doc.info.summary;
      const nav = document.getElementById("tags");
      const container = document.getElementById("operations");
      (doc.tags || []).map((t) => t.name).filter((name) => groups.has(name)).forEach((name) => {
        const link = el("a", name);
        link.href = "#tag-" + name;
        nav.append(link);
        const heading = el("h2", name);
        heading.id = "tag-" + name;
        container.append(heading, ...groups.get(name));
      });
    })
    .catch(() => { document.getElementById("summary").textContent = "The API document could not be read."; });
})();
