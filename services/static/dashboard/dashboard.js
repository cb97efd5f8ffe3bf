// Draws the dashboard's charts and map from the figures the server put in #dashboard-data and
// #dashboard-map (services.stats.selectors and the map API's services.matching.map, the same
// numbers as the API). Chart.js is served locally and the map is plain SVG: no CDN.
(function () {
  "use strict";
  var root = document.documentElement;
  var style = getComputedStyle(root);
  function cssColour(name) {
    return style.getPropertyValue(name).trim();
  }
  // One colour per 三暖 kind, from the stylesheet the table, legend and progress bars use:
  // a slice is coloured by its kind, never by its position.
  var kindColour = {
    warm_enterprise: cssColour("--enterprise"),
    warm_village: cssColour("--village"),
    warm_heart: cssColour("--heart"),
  };
  var red = cssColour("--red");

  var printButton = document.getElementById("print-button");
  if (printButton) {
    printButton.addEventListener("click", function () { window.print(); });
  }

  function go(links) {
    return function (event, elements) {
      if (elements.length && links[elements[0].index]) {
        window.location.href = links[elements[0].index];
      }
    };
  }

  function pointer(event, elements) {
    event.native.target.style.cursor = elements.length ? "pointer" : "default";
  }

  function drawCharts(data) {
    Chart.defaults.font.family = style.fontFamily;
    Chart.defaults.color = "#4b5563";
    Chart.defaults.animation = false; // figures, not a show; also keeps screenshots stable

    function people(value) {
      return value.toLocaleString("zh-CN") + " 人次";
    }

    new Chart(document.getElementById("chart-kinds"), {
      type: "doughnut",
      data: {
        labels: data.kinds.labels,
        datasets: [{
          data: data.kinds.values,
          backgroundColor: data.kinds.keys.map(function (k) { return kindColour[k]; }),
          borderWidth: 1,
        }],
      },
      options: {
        maintainAspectRatio: false,
        plugins: {
          legend: { position: "right" },
          tooltip: { callbacks: { label: function (c) { return c.label + "：" + people(c.raw); } } },
        },
      },
    });

    new Chart(document.getElementById("chart-places"), {
      type: "bar",
      data: {
        labels: data.places.labels,
        datasets: [{ label: "服务群众人次", data: data.places.values, backgroundColor: red }],
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        onClick: go(data.places.links),
        onHover: pointer,
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });

    new Chart(document.getElementById("chart-months"), {
      data: {
        labels: data.months.labels,
        datasets: [
          {
            type: "bar",
            label: "服务群众人次",
            data: data.months.values,
            backgroundColor: "rgba(184, 59, 59, 0.8)",
            yAxisID: "y",
          },
          {
            type: "line",
            label: "委员参与人次",
            data: data.months.participations,
            borderColor: kindColour.warm_village,
            backgroundColor: kindColour.warm_village,
            cubicInterpolationMode: "monotone",
            yAxisID: "y2",
          },
        ],
      },
      options: {
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        onClick: go(data.months.links),
        onHover: pointer,
        scales: {
          y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "群众人次" } },
          y2: {
            beginAtZero: true,
            position: "right",
            grid: { drawOnChartArea: false },
            ticks: { precision: 0 },
            title: { display: true, text: "委员人次" },
          },
        },
      },
    });

    // Printing: charts are redrawn at the page's width (and back afterwards).
    function resizeAll() {
      Object.values(Chart.instances).forEach(function (chart) { chart.resize(); });
    }
    window.addEventListener("beforeprint", resizeAll);
    window.addEventListener("afterprint", resizeAll);
  }

  // ------------------------------------------------------------ the map (plain SVG)
  var SVG = "http://www.w3.org/2000/svg";

  function node(name, attributes, parent) {
    var element = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { element.setAttribute(key, attributes[key]); });
    if (parent) {
      parent.appendChild(element);
    }
    return element;
  }

  function linked(parent, href, title) {
    var anchor = node("a", { href: href }, parent);
    node("title", {}, anchor).textContent = title;
    return anchor;
  }

  function drawMap(svg, geo) {
    // Equirectangular projection of the box, longitudes shrunk by cos(latitude).
    var box = geo.box;
    var midLat = (box[1] + box[3]) / 2;
    var kx = Math.cos(midLat * Math.PI / 180);
    var width = 1000;
    var height = Math.max(200, Math.round(width * (box[3] - box[1]) / ((box[2] - box[0]) * kx)));
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    function at(coordinates) {
      return [
        (coordinates[0] - box[0]) / (box[2] - box[0]) * width,
        (box[3] - coordinates[1]) / (box[3] - box[1]) * height,
      ];
    }
    node("rect", { x: 0, y: 0, width: width, height: height, class: "map-sea" }, svg);
    geo.stations.forEach(function (s) {
      var p = at(s.coordinates);
      var a = linked(svg, s.link, s.name + "（" + s.town + "）");
      a.setAttribute("class", "map-station");
      node("rect", { x: p[0] - 7, y: p[1] - 7, width: 14, height: 14, rx: 2 }, a);
      // Labels of the stations in the right part of the map run leftwards, inside the map.
      var right = p[0] > width * 0.6;
      node("text", {
        x: right ? p[0] - 10 : p[0] + 10,
        y: p[1] + 5,
        "text-anchor": right ? "end" : "start",
      }, a).textContent = s.name;
    });
    geo.features.forEach(function (f) {
      var p = at(f.geometry.coordinates);
      var props = f.properties;
      var a = linked(svg, props.link, props.title + " · " + props.station_name +
        "（" + props.claimed + "/" + props.slots + "）");
      a.setAttribute("class", "map-need");
      a.setAttribute("data-kind", props.campaign_kind);
      node("circle", { cx: p[0], cy: p[1], r: 8, fill: kindColour[props.campaign_kind] || red }, a);
    });
    svg.dataset.drawn = String(geo.features.length);
  }

  var source = document.getElementById("dashboard-data");
  if (source && typeof Chart !== "undefined") {
    drawCharts(JSON.parse(source.textContent));
    root.dataset.chartsReady = "1";
  }
  var mapSource = document.getElementById("dashboard-map");
  var svg = document.getElementById("map");
  if (mapSource && svg) {
    drawMap(svg, JSON.parse(mapSource.textContent));
  }
})();
