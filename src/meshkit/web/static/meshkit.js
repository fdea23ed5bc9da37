/* meshkit catalog: draws server-computed graphs with cytoscape, and searches a static catalog.
 *
 * No layout happens here: every node arrives with its position (a `preset` layout).
 * Data is read from <script type="application/json"> elements and put into the page with
 * DOM text APIs only, never as HTML.
 */
(function () {
  "use strict";

  var graphs = (window.meshkitGraphs = window.meshkitGraphs || {});

  function readJSON(id) {
    var element = document.getElementById(id);
    if (!element) return null;
    try {
      return JSON.parse(element.textContent);
    } catch (err) {
      return null;
    }
  }

  var BASE_NODE = {
    shape: "round-rectangle",
    width: "data(w)",
    height: 46,
    label: "data(label)",
    "text-wrap": "wrap",
    "text-max-width": "data(w)",
    "text-valign": "center",
    "text-halign": "center",
    "font-size": 11,
    "font-family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
    color: "#0f172a",
    "background-color": "data(color)",
    "background-opacity": 0.16,
    "border-width": 1.5,
    "border-color": "data(color)"
  };

  function lineageStyle() {
    return [
      { selector: "node", style: BASE_NODE },
      { selector: "node.public", style: { "border-width": 3 } },
      { selector: "node.private", style: { "border-style": "dashed" } },
      { selector: "node.source", style: { shape: "barrel", "background-opacity": 0.08 } },
      { selector: "node.exposure", style: { shape: "tag" } },
      { selector: "node.seed", style: { shape: "rectangle" } },
      { selector: "node.other-project", style: { "background-opacity": 0.28 } },
      { selector: "node.deprecated", style: { "border-color": "#b91c1c", color: "#7f1d1d" } },
      { selector: "node.unpublished", style: { "background-color": "#94a3b8", "border-color": "#64748b", "border-style": "dotted", color: "#475569" } },
      { selector: "node.status-error, node.status-fail", style: { "border-color": "#dc2626", "border-width": 3 } },
      { selector: "node.centre", style: { "border-width": 4, "border-color": "#0f172a", "font-weight": "bold", "background-opacity": 0.35 } },
      { selector: "node:active, node:selected", style: { "overlay-opacity": 0.08 } },
      {
        selector: "edge",
        style: {
          width: 1.4,
          "curve-style": "bezier",
          "target-arrow-shape": "triangle",
          "arrow-scale": 0.9,
          "line-color": "#94a3b8",
          "target-arrow-color": "#94a3b8"
        }
      },
      { selector: "edge.cross", style: { width: 2.6, "line-color": "#f59e0b", "target-arrow-color": "#f59e0b" } },
      { selector: "edge.indirect", style: { "line-style": "dotted" } }
    ];
  }

  function projectStyle() {
    return [
      {
        selector: "node",
        style: Object.assign({}, BASE_NODE, {
          width: 180,
          height: 64,
          "text-max-width": 170,
          "font-size": 13,
          "background-opacity": 0.22,
          "border-width": 2.5
        })
      },
      { selector: "node.unpublished", style: { "border-style": "dashed", "background-color": "#94a3b8" } },
      {
        selector: "edge",
        style: {
          width: 2.4,
          "curve-style": "bezier",
          "control-point-step-size": 48,
          "target-arrow-shape": "triangle",
          "line-color": "#64748b",
          "target-arrow-color": "#64748b",
          label: "data(label)",
          "font-size": 12,
          "text-background-color": "#ffffff",
          "text-background-opacity": 1,
          "text-background-padding": 3,
          "text-rotation": "autorotate"
        }
      },
      { selector: "edge.bidirectional", style: { "line-color": "#7c3aed", "target-arrow-color": "#7c3aed" } },
      { selector: "edge.declared", style: { "line-style": "dashed", "line-color": "#cbd5e1", "target-arrow-color": "#cbd5e1" } }
    ];
  }

  /* A column graph: columns inside model boxes (compound nodes) on project bands (plain
   * rectangles drawn below them), edges coloured by lens. */
  function columnStyle() {
    return [
      { selector: "node", style: Object.assign({}, BASE_NODE, { height: 24, "font-size": 11, "background-opacity": 0.1 }) },
      {
        selector: "node.model-box",
        style: {
          shape: "round-rectangle",
          label: "data(label)",
          "text-valign": "top",
          "text-halign": "center",
          "text-margin-y": -4,
          "font-size": 12,
          "font-weight": "bold",
          "font-family": BASE_NODE["font-family"],
          color: "#0f172a",
          padding: 8,
          "background-color": "data(color)",
          "background-opacity": 0.06,
          "border-width": 1.5,
          "border-color": "data(color)"
        }
      },
      { selector: "node.model-box.source, node.model-box.seed", style: { "border-style": "dashed" } },
      {
        selector: "node.project-band",
        style: {
          shape: "rectangle",
          width: "data(w)",
          height: "data(h)",
          "z-compound-depth": "bottom",
          events: "no",                           // panning starts on it; it never moves
          label: "data(label)",
          "text-valign": "top",
          "text-halign": "center",
          "text-margin-y": -4,
          "font-size": 14,
          "font-weight": "bold",
          "font-family": BASE_NODE["font-family"],
          color: "data(color)",
          "background-color": "data(color)",
          "background-opacity": 0.03,
          "border-width": 1,
          "border-style": "dashed",
          "border-color": "data(color)"
        }
      },
      { selector: "node.centre", style: { "border-width": 3.5, "border-color": "#0f172a", "font-weight": "bold", "background-opacity": 0.35 } },
      { selector: "node.rows-only", style: { "border-style": "dashed", "background-opacity": 0.03, color: "#475569" } },
      { selector: "node.unresolved", style: { height: 32, "border-style": "dotted", "border-width": 2.5, "border-color": "#64748b", "background-color": "#e2e8f0" } },
      { selector: "node.has-more", style: { "border-width": 2.5 } },
      {
        selector: "edge",
        style: {
          width: 1.6,
          "curve-style": "bezier",
          "target-arrow-shape": "triangle",
          "arrow-scale": 0.8,
          label: "data(label)",
          "font-size": 9,
          "min-zoomed-font-size": 7,
          color: "#334155",
          "text-background-color": "#ffffff",
          "text-background-opacity": 0.85,
          "text-background-padding": 2
        }
      },
      { selector: "edge.passthrough", style: { "line-color": "#059669", "target-arrow-color": "#059669" } },
      { selector: "edge.rename", style: { "line-color": "#2563eb", "target-arrow-color": "#2563eb", width: 2 } },
      { selector: "edge.transformed", style: { "line-color": "#d97706", "target-arrow-color": "#d97706", width: 2.2 } },
      { selector: "edge.rows", style: { "line-color": "#94a3b8", "target-arrow-color": "#94a3b8", "line-style": "dashed", width: 1.2 } },
      { selector: "edge.unknown", style: { "line-color": "#64748b", "target-arrow-color": "#64748b", "line-style": "dotted", width: 1.6 } }
    ];
  }

  var STYLES = { projects: projectStyle, columns: columnStyle };

  function draw(container) {
    var data = readJSON(container.getAttribute("data-graph"));
    if (!data || !data.nodes || typeof window.cytoscape !== "function") return;
    var elements = [];
    data.nodes.forEach(function (n) {
      var node = {
        group: "nodes",
        data: { id: n.id, label: n.label, color: n.color || "#64748b", w: n.w || 160, href: n.href || "" },
        classes: n.classes || ""
      };
      if (n.parent) node.data.parent = n.parent;   // a box: placed around its children
      if (n.h) node.data.h = n.h;
      if (typeof n.x === "number") node.position = { x: n.x, y: n.y };
      elements.push(node);
    });
    data.edges.forEach(function (e, i) {
      elements.push({
        group: "edges",
        data: { id: "e" + i, source: e.source, target: e.target, label: e.label || "" },
        classes: e.classes || ""
      });
    });
    var big = data.nodes.length > 400;
    var cy = window.cytoscape({
      container: container,
      elements: elements,
      layout: { name: "preset", fit: true, padding: 24 },
      style: (STYLES[data.kind] || lineageStyle)(),
      minZoom: 0.03,
      maxZoom: 2.5,
      boxSelectionEnabled: false,
      textureOnViewport: big,
      hideEdgesOnViewport: big,
      pixelRatio: big ? 1 : "auto"
    });
    if (cy.zoom() > 1.1) {
      // A few nodes fitted to a wide canvas would be drawn huge.
      cy.zoom(1.1);
      cy.center();
    }
    if (data.centre && data.nodes.length > 120) {
      // A large neighbourhood fitted whole is unreadable: start close to the centre.
      var centre = cy.getElementById(data.centre);
      if (centre.nonempty()) {
        cy.zoom(0.75);
        cy.center(centre);
      }
    }
    cy.on("tap", "node", function (evt) {
      var href = evt.target.data("href");
      if (href) window.location.href = href;
    });
    cy.on("mouseover", "node", function (evt) {
      container.style.cursor = evt.target.data("href") ? "pointer" : "default";
    });
    cy.on("mouseout", "node", function () {
      container.style.cursor = "";
    });
    graphs[container.id] = cy;
    cy.one("render", function () {
      container.setAttribute("data-ready", "1");
      window.meshkitDrawn = (window.meshkitDrawn || 0) + 1;
      window.meshkitDrawnAt = window.performance ? window.performance.now() : 0;
    });
  }

  function drawAll() {
    var containers = document.querySelectorAll("[data-graph]");
    for (var i = 0; i < containers.length; i++) draw(containers[i]);
  }

  /* ---- search in a static catalog (the live server ranks on the server) ---------------- */

  var WEIGHTS = { exact: 60, name: 24, tag: 12, column: 9, group: 6, project: 5, text: 3 };

  function tokens(text) {
    return (String(text || "").toLowerCase().match(/[a-z0-9]+/g) || []);
  }

  function singular(token) {
    // payments → payment, so a query in the singular meets a plural name at full weight
    return token.length > 3 && token.charAt(token.length - 1) === "s" && token.charAt(token.length - 2) !== "s"
      ? token.slice(0, -1) : null;
  }

  function parseQuery(q) {
    var include = [], exclude = [], phrases = [];
    var re = /(-?)"([^"]*)"|(\S+)/g, match;
    while ((match = re.exec(q))) {
      if (match[2] !== undefined && match[0].indexOf('"') >= 0) {
        if (!match[1]) phrases.push(match[2].toLowerCase());
        continue;
      }
      var word = match[3];
      if (word.charAt(0) === "-" && word.length > 1) exclude = exclude.concat(tokens(word.slice(1)));
      else include = include.concat(tokens(word));
    }
    return { include: include, exclude: exclude, phrases: phrases };
  }

  function prepare(row) {
    // [id, name, label, project, type, access, materialized, group, tags, description, columns, latest, href]
    var fields = [];
    function add(list, weight, detail) {
      list.forEach(function (t) {
        fields.push([t, weight, detail]);
        var one = singular(t);
        if (one) fields.push([one, weight * 0.9, detail]);
      });
    }
    add([row[1].toLowerCase(), row[2].toLowerCase()], WEIGHTS.exact, "name");
    add(tokens(row[1]), WEIGHTS.name, "name");
    add([row[3].toLowerCase()], WEIGHTS.project, "project");
    row[8].forEach(function (tag) { add([tag.toLowerCase()].concat(tokens(tag)), WEIGHTS.tag, "tag " + tag); });
    if (row[7]) add(tokens(row[7]), WEIGHTS.group, "group " + row[7]);
    row[10].forEach(function (col) { add([col.toLowerCase()].concat(tokens(col)), WEIGHTS.column, "column " + col); });
    add(tokens(row[9]), WEIGHTS.text, "description");
    return { row: row, fields: fields, text: (row[2] + " " + row[9] + " " + row[8].join(" ") + " " + row[10].join(" ")).toLowerCase() };
  }

  function termScore(doc, term) {
    var best = 0, detail = null;
    for (var i = 0; i < doc.fields.length; i++) {
      var f = doc.fields[i], w = 0;
      if (f[0] === term) w = f[1];
      else if (term.length >= 2 && f[0].lastIndexOf(term, 0) === 0) w = f[1] * 0.55;
      if (w > best) { best = w; detail = f[2]; }
    }
    return [best, detail];
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function staticSearch() {
    var box = document.getElementById("search-results");
    if (!box || document.body.getAttribute("data-mode") !== "static") return;
    var rows = window.MESHKIT_SEARCH;
    if (!rows) return;
    var params = new URLSearchParams(window.location.search);
    var q = params.get("q") || "";
    var filters = {};
    ["projects", "types", "access", "materialized", "groups", "tags"].forEach(function (key) {
      filters[key] = params.getAll(key).filter(function (v) { return v; });
      var select = document.querySelector('#search-form [name="' + key + '"]');
      if (select && filters[key].length) select.value = filters[key][0];
    });
    var input = document.querySelector('#search-form [name="q"]');
    if (input) input.value = q;
    var header = document.getElementById("search-box");
    if (header) header.value = q;
    var parsed = parseQuery(q);
    var anyFilter = Object.keys(filters).some(function (k) { return filters[k].length; });
    if (!parsed.include.length && !parsed.phrases.length && !anyFilter) {
      box.appendChild(el("p", "muted", "Type a word above: a model's name, a column, a tag…"));
      document.documentElement.setAttribute("data-search-ready", "1");
      return;
    }
    function accepts(r) {
      function ok(list, value) { return !list.length || list.indexOf(value) >= 0; }
      return ok(filters.projects, r[3]) && ok(filters.types, r[4]) && ok(filters.access, r[5]) &&
        ok(filters.materialized, r[6]) && ok(filters.groups, r[7]) &&
        (!filters.tags.length || r[8].some(function (t) { return filters.tags.indexOf(t) >= 0; }));
    }
    var hits = [];
    var lowered = q.trim().toLowerCase();
    rows.forEach(function (r) {
      if (!accepts(r)) return;
      var doc = prepare(r), score = 0, matched = [];
      for (var i = 0; i < parsed.include.length; i++) {
        var s = termScore(doc, parsed.include[i]);
        if (!s[0]) return;
        score += s[0];
        if (matched.indexOf(s[1]) < 0) matched.push(s[1]);
      }
      for (var j = 0; j < parsed.exclude.length; j++) if (termScore(doc, parsed.exclude[j])[0]) return;
      for (var k = 0; k < parsed.phrases.length; k++) {
        if (doc.text.indexOf(parsed.phrases[k]) < 0) return;
        score += WEIGHTS.name;
      }
      if (parsed.include.length) {
        if (r[1].toLowerCase() === lowered || r[2].toLowerCase() === lowered) score += WEIGHTS.exact;
        else if (r[1].toLowerCase().lastIndexOf(lowered, 0) === 0) score += WEIGHTS.name / 2;
        if (r[4] === "model") score += 3;
        if (r[5] === "public") score += 1.5;
        if (r[11]) score += 0.5;
      }
      hits.push({ row: r, score: score, matched: matched });
    });
    hits.sort(function (a, b) { return b.score - a.score || (a.row[2] < b.row[2] ? -1 : 1); });
    var root = document.body.getAttribute("data-root") || "";
    box.appendChild(el("p", "muted small", hits.length + " result" + (hits.length === 1 ? "" : "s")));
    var list = el("ol", "results");
    hits.slice(0, 100).forEach(function (hit) {
      var r = hit.row, item = el("li", "result");
      var link = el("a", "result-title", r[2]);
      link.href = root + r[12];
      item.appendChild(link);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(el("span", "badge type type-" + r[4], r[4]));
      if (r[5]) {
        item.appendChild(document.createTextNode(" "));
        item.appendChild(el("span", "badge access-" + r[5], r[5]));
      }
      if (hit.matched.length) item.appendChild(el("span", "matched small muted", " matched " + hit.matched.join(", ")));
      if (r[9]) item.appendChild(el("p", "snippet small", r[9].length > 160 ? r[9].slice(0, 160) + "…" : r[9]));
      list.appendChild(item);
    });
    if (!hits.length) list.appendChild(el("li", "muted", "Nothing matches."));
    box.appendChild(list);
    document.documentElement.setAttribute("data-search-ready", "1");
  }

  /* ---- a static catalog's resource pages, kept in data/<n>.js (see static_site.py) ---- */

  function shardOf(id, count) {
    // 32-bit FNV-1a of the UTF-8 id, as static_site.shard_of computes it
    var bytes = new TextEncoder().encode(id), hash = 0x811c9dc5;
    for (var i = 0; i < bytes.length; i++) {
      hash ^= bytes[i];
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    return hash % count;
  }

  function shellStatus(text) {
    var status = document.getElementById("shell-status");
    if (status) status.textContent = text;
  }

  function showPage(id, text) {
    var entry = JSON.parse(text)[id];
    var at = document.body.getAttribute("data-page") === "lineage" ? 2 : 0;
    if (!entry || !entry[at]) {
      shellStatus("There is no resource " + id + " in this catalog.");
      return;
    }
    document.title = entry[at];
    // The page as meshkit rendered it when it wrote the folder: escaped and sanitized there,
    // the same HTML a served page has (innerHTML runs no script).
    document.querySelector("main").innerHTML = entry[at + 1];
    drawAll();
    document.documentElement.setAttribute("data-page-ready", "1");
  }

  function loadShell() {
    var count = parseInt(document.body.getAttribute("data-shards") || "0", 10);
    if (!count) return false;
    var id = new URLSearchParams(window.location.search).get("id");
    if (!id) {
      shellStatus("Which resource? This page is opened as node.html?id=<unique id>.");
      return true;
    }
    if (typeof DecompressionStream !== "function") {
      shellStatus("This browser cannot read the catalog's compressed pages: use a current browser, or `meshkit serve`.");
      return true;
    }
    var index = shardOf(id, count);
    window.meshkitShard = function (n, packed) {
      if (n !== index) return;
      var raw = atob(packed), bytes = new Uint8Array(raw.length);
      for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
      var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      new Response(stream).text().then(function (text) { showPage(id, text); }, function () {
        shellStatus("data/" + index + ".js is damaged: generate the catalog again.");
      });
    };
    var script = document.createElement("script");
    script.src = (document.body.getAttribute("data-root") || "") + "data/" + index + ".js";
    script.onerror = function () {
      shellStatus("Cannot load data/" + index + ".js: is the catalog folder complete?");
    };
    document.body.appendChild(script);
    return true;
  }

  function start() {
    if (!loadShell()) drawAll();
    staticSearch();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
