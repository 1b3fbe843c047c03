/** The dashboard's stylesheet (served inline under the page's nonce; the policy allows no style attributes). */
export const dashboardStyles = `
:root{--bg:#0f172a;--panel:#111c33;--line:#22304f;--text:#e2e8f0;--muted:#94a3b8;--ok:#22c55e;--run:#38bdf8;--bad:#ef4444;--wait:#eab308;--off:#64748b;--flow:#a78bfa}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,sans-serif;background:var(--bg);color:var(--text)}
a{color:var(--run);text-decoration:none}a:hover{text-decoration:underline}
header{display:flex;align-items:center;gap:16px;flex-wrap:wrap;padding:12px 20px;border-bottom:1px solid var(--line)}
h1{font-size:18px;margin:0}h1 a{color:var(--text)}h2{font-size:16px;margin:18px 0 8px}h3{font-size:15px;margin:0 0 6px}h4{margin:14px 0 6px;font-size:13px;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
nav{display:flex;gap:4px}nav a{padding:6px 10px;border-radius:6px;color:var(--muted)}nav a.active{background:var(--panel);color:var(--text);border:1px solid var(--line)}
.chips{display:flex;gap:6px;flex-wrap:wrap;margin-left:auto}.chip{background:var(--panel);border:1px solid var(--line);border-radius:999px;padding:3px 9px;font-size:12px}.chip b{margin-left:6px}
main{padding:16px 20px;max-width:1400px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:14px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:12px}
.card header{padding:0;border:0;gap:8px}.row{display:flex;gap:8px;align-items:center;flex-wrap:wrap}
.filters{display:flex;gap:8px;flex-wrap:wrap;margin-bottom:10px}
input,select,button{background:var(--panel);color:var(--text);border:1px solid var(--line);border-radius:6px;padding:6px 8px;font:inherit}
button{cursor:pointer}button:hover{border-color:var(--run)}button.danger{border-color:#7f1d1d}button.danger:hover{border-color:var(--bad)}
button.small{padding:2px 7px;font-size:12px}
table{width:100%;border-collapse:collapse;background:var(--panel);border-radius:8px;overflow:hidden}
th,td{text-align:left;padding:7px 8px;border-bottom:1px solid var(--line);white-space:nowrap;vertical-align:top}th{color:var(--muted);font-weight:600;font-size:12px}
tr.rec:hover{background:#16233f;cursor:pointer}td.id{font-family:ui-monospace,monospace;font-size:12px}
.badge{border-radius:4px;padding:2px 6px;font-size:12px}.pending,.scheduled{background:#3b2f07;color:var(--wait)}.running{background:#0b3247;color:var(--run)}
.completed{background:#0c3a22;color:var(--ok)}.failed{background:#3f1010;color:var(--bad)}.cancelled,.unknown,.removed{background:#1f2937;color:var(--off)}.waiting{background:#2e1f52;color:var(--flow)}
.paused{background:#3b2f07;color:var(--wait)}.live{background:#0c3a22;color:var(--ok)}
.bar{width:110px;height:10px;background:#0b1426;border-radius:5px;overflow:hidden;display:inline-block;vertical-align:middle}
.bar i{display:block;height:100%;background:var(--run);transition:width .2s}.pct{margin-left:6px;color:var(--muted);font-size:12px}
pre{white-space:pre-wrap;word-break:break-all;background:#0b1426;padding:8px;border-radius:6px;max-height:260px;overflow:auto;margin:0}
.muted{color:var(--muted)}.timeline{margin:0;padding-left:18px}.timeline li{margin:2px 0}
.empty{padding:28px;text-align:center;color:var(--muted);background:var(--panel);border:1px dashed var(--line);border-radius:8px}
svg.chart{width:100%;height:90px;display:block;background:#0b1426;border-radius:6px}svg.chart .c{fill:var(--ok)}svg.chart .f{fill:var(--bad)}
.legend{font-size:12px;color:var(--muted)}.legend b{color:var(--text)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0}dt{color:var(--muted)}dd{margin:0}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:14px}
dialog{background:var(--panel);color:var(--text);border:1px solid var(--line);border-radius:10px;padding:16px;max-width:460px}
dialog::backdrop{background:rgba(2,6,23,.7)}dialog p{margin:0 0 14px;word-break:break-word}
#toast{position:fixed;bottom:16px;right:16px;background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:8px 12px;display:none}#toast.show{display:block}
.pager{display:flex;gap:8px;justify-content:flex-end;margin-top:10px}
@media (max-width:760px){
  header{padding:10px 12px}.chips{margin-left:0}main{padding:12px}.grid,.cols{grid-template-columns:1fr}
  table.records thead{display:none}table.records,table.records tbody,table.records tr,table.records td{display:block;width:100%}
  table.records tr{border-bottom:1px solid var(--line);padding:6px 0}table.records td{border:0;padding:3px 8px;white-space:normal}
  table.records td[data-label]::before{content:attr(data-label);color:var(--muted);display:inline-block;min-width:90px}
  table.records td.wide{display:none}
}
`;
