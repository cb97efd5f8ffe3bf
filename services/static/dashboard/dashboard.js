// Draws the dashboard's charts from the figures the server put in #dashboard-data
// (services.stats.selectors, the same numbers as the API). Chart.js is served locally: no CDN.
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof Chart === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var red = "#b83b3b";
  var kindColours = ["#d9822b", "#2f8f6b", "#c2416b"];
  Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
  Chart.defaults.color = "#4b5563";
  Chart.defaults.animation = false; // figures, not a show; also keeps screenshots stable

  function people(value) {
    return value.toLocaleString("zh-CN") + " 人次";
  }

  new Chart(document.getElementById("chart-kinds"), {
    type: "doughnut",
    data: {
      labels: data.kinds.labels,
      datasets: [{ data: data.kinds.values, backgroundColor: kindColours, borderWidth: 1 }],
    },
    options: {
      maintainAspectRatio: false,
      plugins: {
        legend: { position: "right" },
        tooltip: { callbacks: { label: function (c) { return c.label + "：" + people(c.raw); } } },
      },
    },
  });

  new Chart(document.getElementById("chart-towns"), {
    type: "bar",
    data: {
      labels: data.towns.labels,
      datasets: [{ label: "服务群众人次", data: data.towns.values, backgroundColor: red }],
    },
    options: {
      indexAxis: "y",
      maintainAspectRatio: false,
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
          borderColor: "#2f8f6b",
          backgroundColor: "#2f8f6b",
          cubicInterpolationMode: "monotone",
          yAxisID: "y2",
        },
      ],
    },
    options: {
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
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
  document.documentElement.dataset.chartsReady = "1";
})();
