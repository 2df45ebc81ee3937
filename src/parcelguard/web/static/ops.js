// The hub map: every hub with a known position, a circle sized by parcels on hand and
// coloured by congestion, on the offline basemap of China's provinces.
(function () {
  var el = document.getElementById("hub-map");
  var data = document.getElementById("hubs-data");
  if (!el || !data || typeof L === "undefined") return;
  var hubs = JSON.parse(data.textContent || "[]");
  var colours = { ok: "#2f9e44", busy: "#f08c00", congested: "#e03131" };
  var map = L.map(el, { attributionControl: false, zoomSnap: 0.5 }).setView([35, 105], 3.5);
  fetch("/static/geo/china.json").then(function (r) { return r.ok ? r.json() : null; })
    .then(function (geo) {
      if (geo) L.geoJSON(geo, { style: { color: "#868e96", weight: 1, fillColor: "#f1f3f5",
        fillOpacity: 1 } }).addTo(map).bringToBack();
      el.dataset.basemap = geo ? "loaded" : "missing";
    });
  var points = [];
  hubs.forEach(function (h) {
    var c = colours[h.level] || colours.ok;
    var label = document.createElement("span");  // text, never markup: ids come from scans
    label.textContent = h.id + " · " + h.on_hand;
    L.circleMarker([h.lat, h.lon], { radius: 5 + Math.min(20, Math.sqrt(h.on_hand) * 2),
      color: c, fillColor: c, fillOpacity: 0.6, className: "hub hub-" + h.level })
      .bindTooltip(label).addTo(map);
    points.push([h.lat, h.lon]);
  });
  if (points.length > 1) map.fitBounds(L.latLngBounds(points).pad(0.3), { maxZoom: 8 });
  else if (points.length === 1) map.setView(points[0], 8);
  el.dataset.hubs = String(points.length);
})();
