// The tracking page's map and temperature curve. The data arrives as JSON in #track-data, first
// with the page and then with every live update (htmx's SSE extension swaps it in).
(function () {
  "use strict";
  var dataEl = document.getElementById("track-data");
  if (!dataEl) return;
  var map = null, route = null, here = null, dest = null, plot = null;

  function read() {
    try { return JSON.parse(dataEl.textContent); } catch (e) { return null; }
  }

  function dot(latlng, cls) {
    return L.circleMarker(latlng, { radius: cls === "here" ? 8 : 6, weight: 2,
      color: cls === "here" ? "#d9480f" : "#1864ab",
      fillColor: cls === "here" ? "#ff922b" : "#4dabf7", fillOpacity: 0.9, className: cls });
  }

  function drawMap(d) {
    var el = document.getElementById("map");
    if (!el || typeof L === "undefined") return;
    if (map === null) {
      map = L.map(el, { attributionControl: false, zoomSnap: 0.5 }).setView([35, 105], 3.5);
      fetch("/static/geo/china.json").then(function (r) { return r.ok ? r.json() : null; })
        .then(function (geo) {
          if (geo) L.geoJSON(geo, { style: { color: "#868e96", weight: 1, fillColor: "#f1f3f5",
            fillOpacity: 1 } }).addTo(map).bringToBack();
          el.dataset.basemap = geo ? "loaded" : "missing";
        });
    }
    var path = (d.route && d.route.path) || [];
    if (route) route.remove();
    if (here) here.remove();
    if (dest) dest.remove();
    route = L.polyline(path, { color: "#1971c2", weight: 3 }).addTo(map);
    if (d.route && d.route.current) here = dot(d.route.current, "here").addTo(map);
    if (d.destination) dest = dot(d.destination, "dest").addTo(map);
    var pts = path.slice();
    if (d.destination) pts.push(d.destination);
    if (pts.length > 1) map.fitBounds(L.latLngBounds(pts).pad(0.2), { maxZoom: 9 });
    else if (pts.length === 1) map.setView(pts[0], 8);
    el.dataset.points = String(path.length);
  }

  function drawCurve(d) {
    var el = document.getElementById("curve");
    if (!el || typeof uPlot === "undefined" || !d.curve || !d.curve.t.length) return;
    var band = d.band, c = d.curve;
    var lo = c.t.map(function () { return band ? band[0] : null; });
    var hi = c.t.map(function () { return band ? band[1] : null; });
    // the readings out of the safe band, drawn again in red over the curve
    var out = c.temp.map(function (v) {
      return band && v !== null && (v < band[0] || v > band[1]) ? v : null;
    });
    var hasHumidity = c.humidity.some(function (v) { return v !== null; });
    var series = [{}, { label: "°C", stroke: "#e8590c", width: 2, scale: "c" },
      { label: "min", stroke: "#74c0fc", dash: [4, 4], scale: "c" },
      { label: "max", stroke: "#74c0fc", dash: [4, 4], scale: "c" },
      { label: "!", stroke: "#c92a2a", width: 4, scale: "c", spanGaps: false,
        points: { show: true, size: 5, fill: "#c92a2a" } }];
    var data = [c.t, c.temp, lo, hi, out];
    var axes = [{}, { scale: "c", label: "°C" }];
    if (hasHumidity) {
      series.push({ label: "%RH", stroke: "#868e96", width: 1, scale: "rh" });
      data.push(c.humidity);
      axes.push({ scale: "rh", side: 1, label: "%RH", grid: { show: false } });
    }
    var opts = {
      width: el.clientWidth || 320, height: 200,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Asia/Shanghai"); },
      scales: { x: { time: true } }, series: series, axes: axes
    };
    if (plot) plot.destroy();
    plot = new uPlot(opts, data, el);
    el.dataset.points = String(c.t.length);
    el.dataset.excursionPoints = String(out.filter(function (v) { return v !== null; }).length);
  }

  function draw() {
    var d = read();
    if (!d) return;
    drawMap(d);
    drawCurve(d);
  }

  document.body.addEventListener("htmx:sseMessage", function (e) {
    if (e.target === dataEl) draw();
  });
  document.body.addEventListener("htmx:sseOpen", function () {
    document.body.classList.add("live");
  });
  document.body.addEventListener("htmx:sseError", function () {
    document.body.classList.remove("live");
  });
  draw();
})();
