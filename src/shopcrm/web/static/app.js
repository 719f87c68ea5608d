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
    campaign_funnel: function (data, fmt) {
      var option = base(data);
      option.tooltip = axisTooltip(fmt, data.funnel.map(function () { return "number"; }));
      option.xAxis = { type: "category", data: data.steps };
      option.yAxis = { type: "value", minInterval: 1, axisLabel: { formatter: fmt.number } };
      option.series = data.funnel.map(function (arm) {
        return { name: arm.name, type: "bar", data: arm.values, barMaxWidth: 28 };
      });
      return option;
    },
    campaign_lift: function (data, fmt) {
      // one point per arm with its 95% interval drawn as a vertical bar with caps
      var option = base(data);
      var rows = [["conversion", data.conversion], ["revenue", data.revenue]];
      option.legend = { bottom: 0 };
      option.grid = [{ left: 8, right: "55%", top: 28, bottom: 40, containLabel: true },
                     { left: "55%", right: 8, top: 28, bottom: 40, containLabel: true }];
      option.xAxis = rows.map(function (_, i) {
        return { type: "category", data: data.lift_arms, gridIndex: i };
      });
      option.yAxis = rows.map(function (row, i) {
        return { type: "value", gridIndex: i, name: data.labels[row[0]], nameTextStyle: { align: "left" },
                 axisLabel: { formatter: i === 0 ? function (v) { return v + " pp"; } : fmt.compact } };
      });
      option.tooltip = {
        trigger: "item", confine: true,
        formatter: function (p) {
          var v = p.data.value || p.data;
          var show = p.seriesIndex % 2 === 0 ? function (x) { return x.toFixed(2) + " pp"; } : fmt.money;
          return escapeHtml(p.name) + ": <b>" + escapeHtml(show(v[1])) + "</b><br>" +
            escapeHtml(data.labels.ci) + ": [" + escapeHtml(show(v[2])) + ", " + escapeHtml(show(v[3])) + "]";
        }
      };
      option.series = [];
      rows.forEach(function (row, i) {
        var points = row[1].map(function (r, k) { return { name: data.lift_arms[k], value: [k, r[0], r[1], r[2]] }; });
        option.series.push({
          name: data.labels[row[0]], type: "custom", xAxisIndex: i, yAxisIndex: i, data: points,
          renderItem: function (params, api) {
            var x = api.coord([api.value(0), api.value(2)])[0];
            var low = api.coord([api.value(0), api.value(2)])[1];
            var high = api.coord([api.value(0), api.value(3)])[1];
            var mid = api.coord([api.value(0), api.value(1)])[1];
            var half = Math.min(api.size([1, 0])[0] * 0.15, 14);
            var style = api.style({ stroke: api.visual("color"), fill: api.visual("color"), lineWidth: 2 });
            return { type: "group", children: [
              { type: "line", shape: { x1: x, y1: low, x2: x, y2: high }, style: style },
              { type: "line", shape: { x1: x - half, y1: low, x2: x + half, y2: low }, style: style },
              { type: "line", shape: { x1: x - half, y1: high, x2: x + half, y2: high }, style: style },
              { type: "circle", shape: { cx: x, cy: mid, r: 5 }, style: style }
            ] };
          },
          encode: { x: 0, y: [1, 2, 3] }
        });
        option.series.push({ type: "line", xAxisIndex: i, yAxisIndex: i, data: [],
                             markLine: { silent: true, symbol: "none", label: { show: false }, data: [{ yAxis: 0 }],
                                         lineStyle: { color: "#9ca3af", type: "dashed" } } });
      });
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

  // SMS counter in the campaign editor: characters and billed segments as the customer
  // receives the text (signature in 【】 first, opt-out suffix last), as rules.sms_length
  // counts them: GSM-7 160/153, otherwise UCS-2 70/67 UTF-16 units.
  var GSM7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM7_EXT = "\f^{}\\[~]|€";

  function smsLength(text) {
    var gsm = true, units = 0, i, c;
    for (i = 0; i < text.length; i++) {
      c = text.charAt(i);
      if (GSM7.indexOf(c) >= 0) { units += 1; } else if (GSM7_EXT.indexOf(c) >= 0) { units += 2; } else { gsm = false; break; }
    }
    var single = 160, multi = 153;
    if (!gsm) { units = text.length; single = 70; multi = 67; }
    return { units: units, segments: units === 0 ? 0 : units <= single ? 1 : Math.ceil(units / multi) };
  }

  function countSms(area) {
    var out = document.querySelector('[data-sms-count-for="' + area.name + '"]');
    var channel = document.querySelector("[data-channel]");
    if (!out) { return; }
    if (channel && channel.value !== "sms") { out.textContent = ""; return; }
    var body = area.value.trim();
    if (!body) { out.textContent = ""; return; }
    var text = "【" + (area.getAttribute("data-signature") || "") + "】" + body +
      (/[。.!！?？,，;；]$/.test(body) ? "" : "，") + "回T退订";
    var n = smsLength(text);
    out.textContent = n.units + " " + out.getAttribute("data-label-chars") + " · " +
      n.segments + " " + out.getAttribute("data-label-segments");
  }

  document.addEventListener("input", function (event) {
    if (event.target && event.target.hasAttribute && event.target.hasAttribute("data-sms-counter")) {
      countSms(event.target);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    renderCharts(document);
    document.querySelectorAll("[data-sms-counter]").forEach(countSms);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    renderCharts(event.target);
  });
})();
