// A plain, offline rendering of the OpenAPI description: routes, parameters, request bodies, answers.
"use strict";

function schemaText(schema, spec) {
  if (!schema) return "";
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    const target = spec.components && spec.components.schemas && spec.components.schemas[name];
    if (target && target.properties) {
      return `${name} {` + Object.entries(target.properties)
        .map(([k, v]) => `${k}: ${schemaText(v, spec)}`).join(", ") + "}";
    }
    return name;
  }
  if (schema.anyOf) return schema.anyOf.map(s => schemaText(s, spec)).join(" | ");
  if (schema.type === "array") return `array of ${schemaText(schema.items, spec)}`;
  return schema.format ? `${schema.type} (${schema.format})` : (schema.type || "any");
}

async function render() {
  const spec = await getJSON("/openapi.json");
  const parts = [`<section><h2>${esc(spec.info.title)} ${esc(spec.info.version)}</h2><p>${esc(spec.info.description || "")}</p>` +
    `<p class="muted">Errors are JSON: <code>{"detail": "one line saying what went wrong and what to do"}</code>. ` +
    `With a token: header <code>Authorization: Bearer TOKEN</code>, or open <code>/?token=TOKEN</code> once (sets a cookie).</p></section>`];
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = (op.parameters || []).map(p =>
        `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}${p.required ? ", required" : ""}</td>` +
        `<td>${esc(schemaText(p.schema, spec))}</td><td>${esc(p.description || "")}</td></tr>`).join("");
      let body = "";
      if (op.requestBody) {
        const [type, media] = Object.entries(op.requestBody.content)[0];
        body = `<p>Body (<code>${esc(type)}</code>): ${esc(schemaText(media.schema, spec))}</p>`;
      }
      const answers = Object.entries(op.responses || {}).map(([code, r]) => `${esc(code)} ${esc(r.description)}`).join("; ");
      parts.push(`<section class="route"><h3><code>${esc(method.toUpperCase())} ${esc(path)}</code></h3>` +
        `<p>${esc(op.summary || "")}</p>` +
        (params ? `<table class="kv"><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>${params}</table>` : "") +
        body + `<p class="muted">answers: ${answers}</p></section>`);
    }
  }
  document.getElementById("docs").innerHTML = parts.join("");
}

render().catch(err => { document.getElementById("docs").innerHTML = `<p class="error">${esc(err.message)}</p>`; });
