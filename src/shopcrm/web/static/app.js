/* shopcrm page glue: draws the dashboard's charts with ECharts from the JSON the server
   embeds in the page (<script type="application/json" id="chart-data">), and again after
   HTMX swaps content in. No inline scripts, so a strict Content-Security-Policy holds. */
(function () {
  "use strict";

  var FONT = 'system-ui, -apple-system, "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif';
  var COLORS = ["#c2410c", "#2563eb", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#4b5563"];

  function formatters(data) {
    var money = new Intl.NumberFormat(data.locale, { style: "currency", currency: data.currency });
    var compact = new Intl.NumberFormat(data.locale, {
      style: "currency", currency: data.currency, notation: "compact", maximumFractionDigits: 1
    });
    var number = new Intl.NumberFormat(data.locale);
    return {
      money: function (v) { return money.format(v); },
      compact: function (v) { return compact.format(v); },
      number: function (v) { return number.format(v); }
    };
  }

  function base(data) {
    return {
      color: COLORS,
      textStyle: { fontFamily: FONT },
      aria: { enabled: true },
      animationDuration: 400,
      legend: { bottom: 0, type: "scroll" },
      grid: { left: 8, right: 8, top: 24, bottom: 40, containLabel: true }
    };
  }

  function axisTooltip(fmt, kinds) {
    return {
      trigger: "axis",
      confine: true,
      formatter: function (params) {
        var lines = [params.length ? escapeHtml(params[0].axisValueLabel) : ""];
        params.forEach(function (p) {
          var value = kinds[p.seriesIndex] === "money" ? fmt.money(p.value) : fmt.number(p.value);
          lines.push(p.marker + escapeHtml(p.seriesName) + ": <b>" + escapeHtml(value) + "</b>");
        });
        return lines.join("<br>");
      }
    };
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  var builders = {
    gmv: function (data, fmt) {
      var option = base(data);
      option.tooltip = axisTooltip(fmt, ["money", "number"]);
      option.xAxis = { type: "category", data: data.months };
      option.yAxis = [
        { type: "value", name: data.labels.gmv, axisLabel: { formatter: fmt.compact } },
        { type: "value", name: data.labels.orders, splitLine: { show: false }, minInterval: 1,
          axisLabel: { formatter: fmt.number } }
      ];
      option.grid.top = 40;
      option.series = [
        { name: data.labels.gmv, type: "bar", data: data.gmv, barMaxWidth: 28 },
        { name: data.labels.orders, type: "line", yAxisIndex: 1, data: data.orders,
          smooth: true, symbolSize: 6 }
      ];
      return option;
    },
    points: function (data, fmt) {
      var option = base(data);
      option.tooltip = axisTooltip(fmt, ["number", "number", "number", "money"]);
      option.xAxis = { type: "category", data: data.months };
      option.yAxis = [
        { type: "value", name: data.labels.points, axisLabel: { formatter: fmt.compact } },
        { type: "value", name: data.labels.liability, splitLine: { show: false },
          axisLabel: { formatter: fmt.compact } }
      ];
      option.grid.top = 40;
      option.series = [
        { name: data.labels.issued, type: "bar", data: data.issued, barMaxWidth: 24 },
        { name: data.labels.redeemed, type: "bar", data: data.redeemed, barMaxWidth: 24 },
        { name: data.labels.expired, type: "bar", data: data.expired, barMaxWidth: 24 },
        { name: data.labels.liability, type: "line", yAxisIndex: 1, data: data.liability,
          smooth: true, symbolSize: 6 }
      ];
      return option;
    },
    buyers: function (data, fmt) {
      var option = base(data);
      option.tooltip = axisTooltip(fmt, ["number", "number"]);
      option.xAxis = { type: "category", data: data.months };
      option.yAxis = { type: "value", minInterval: 1, axisLabel: { formatter: fmt.number } };
      option.series = [
        { name: data.labels.new_buyers, type: "bar", stack: "buyers", data: data.new_buyers,
          barMaxWidth: 28 },
        { name: data.labels.returning_buyers, type: "bar", stack: "buyers",
          data: data.returning_buyers, barMaxWidth: 28 }
      ];
      return option;
    },
    channels: function (data, fmt) {
      var option = base(data);
      var names = data.channel_names || {};
      option.tooltip = {
        trigger: "item",
        confine: true,
        formatter: function (p) {
          return p.marker + escapeHtml(p.name) + "<br>" + escapeHtml(data.labels.gmv) + ": <b>" +
            escapeHtml(fmt.money(p.value)) + "</b> (" + p.percent + "%)<br>" +
            escapeHtml(data.labels.orders) + ": " + escapeHtml(fmt.number(p.data.orders));
        }
      };
      option.series = [{
        name: data.labels.share,
        type: "pie",
        radius: ["40%", "68%"],
        center: ["50%", "45%"],
        avoidLabelOverlap: true,
        label: { formatter: "{b}\n{d}%" },
        data: data.channels.map(function (c) {
          return { name: names[c.source] || c.source, value: c.gmv, orders: c.orders };
        })
      }];
      return option;
    },
    rfm: function (data, fmt) {
      // x: F score 1–5, y: R score 1–5 (5 at the top = most recent buyers)
      var option = base(data);
      var scores = ["1", "2", "3", "4", "5"];
      var most = 1;
      data.cells.forEach(function (c) { most = Math.max(most, c[2]); });
      option.tooltip = {
        trigger: "item",
        confine: true,
        formatter: function (p) {
          var key = p.value[0] + ":" + p.value[1];
          var segment = data.segments[key] ? escapeHtml(data.segments[key]) + "<br>" : "";
          return segment + "R " + (p.value[1] + 1) + " · F " + (p.value[0] + 1) + "<br>" +
            escapeHtml(data.labels.buyers) + ": <b>" + escapeHtml(fmt.number(p.value[2])) +
            "</b><br>" + escapeHtml(data.labels.net_revenue) + ": " +
            escapeHtml(fmt.money(data.revenue[key] || 0));
        }
      };
      option.legend = undefined;
      option.grid = { left: 32, right: 72, top: 16, bottom: 36, containLabel: true };
      option.xAxis = { type: "category", data: scores, name: data.labels.frequency,
                       nameLocation: "middle", nameGap: 26, splitArea: { show: true } };
      option.yAxis = { type: "category", data: scores, name: data.labels.recency,
                       nameLocation: "middle", nameGap: 26, splitArea: { show: true } };
      option.visualMap = { min: 0, max: most, calculable: true, orient: "vertical",
                           right: 0, top: "middle", itemHeight: 120,
                           inRange: { color: ["#fff7ed", "#fdba74", "#c2410c"] } };
      option.series = [{
        name: data.labels.buyers, type: "heatmap", data: data.cells,
        label: { show: true, formatter: function (p) { return fmt.number(p.value[2]); } }
      }];
      return option;
    }
  };

  function renderCharts(root) {
    var holder = document.getElementById("chart-data");
    if (!holder || typeof window.echarts === "undefined") {
      return;
    }
    var data = JSON.parse(holder.textContent);
    var fmt = formatters(data);
    var scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll("[data-chart]").forEach(function (el) {
      var build = builders[el.getAttribute("data-chart")];
      if (!build) {
        return;
      }
      var chart = window.echarts.getInstanceByDom(el) ||
        window.echarts.init(el, null, { renderer: "svg", locale: data.echarts_locale });
      // data-rendered marks a chart fully drawn (animation over): tests and screenshots wait for it
      el.removeAttribute("data-rendered");
      chart.off("finished");
      chart.on("finished", function () {
        el.setAttribute("data-rendered", "true");
      });
      chart.setOption(build(data, fmt), true);
    });
  }

  function resizeCharts() {
    if (typeof window.echarts === "undefined") {
      return;
    }
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) {
        chart.resize();
      }
    });
  }

  var pending = null;
  window.addEventListener("resize", function () {
    if (pending) {
      window.clearTimeout(pending);
    }
    pending = window.setTimeout(resizeCharts, 150);
  });

  document.addEventListener("DOMContentLoaded", function () {
    renderCharts(document);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    renderCharts(event.target);
  });
})();
