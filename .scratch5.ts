const u = 'https://app.example.com/dashboard/reports?utm_source=newsletter&utm_medium=email';
const N = 1000000;
let t = process.hrtime.bigint(); let x = 0;
for (let i = 0; i < N; i++) { const p = new URL(u); x += p.hostname.length + p.pathname.length + p.search.length + p.port.length + p.protocol.length; }
console.log('URL+getters', Number(process.hrtime.bigint() - t) / N | 0, x);
t = process.hrtime.bigint();
for (let i = 0; i < N; i++) { const p = new URL(u); x += p.hostname.length; }
console.log('URL+hostname', Number(process.hrtime.bigint() - t) / N | 0, x);
