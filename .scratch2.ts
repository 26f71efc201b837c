import { scanString, cleanUrl, referringDomain } from './src/privacy/index.js';
const strs = ['Mac OS X','Chrome','https://www.google.com/','www.google.com','https://app.example.com/dashboard/reports?utm_source=newsletter&utm_medium=email','web','2.55.0','k3j4h5g6f7d8s9a0','$device:18c1f2a3b4c5d6-0e1f2a3b4c5d6e-26001951-1fa400-18c1f2a3b4c5d6','$direct','newsletter','spring_sale_2024','Upgrade now','Reports — Example','pricing-v2','4.12.1','fr-FR','billing','$initial_referring_domain', '$current_url'];
const N = 200000;
for (const s of strs) { let t = process.hrtime.bigint(); for (let i = 0; i < N; i++) scanString(s); console.log(String(Number(process.hrtime.bigint() - t) / N | 0).padStart(5), 'ns', s); }
let t = process.hrtime.bigint(); for (let i = 0; i < N; i++) cleanUrl(strs[4]!, {keepClickIds:false}); console.log('cleanUrl', Number(process.hrtime.bigint() - t) / N | 0);
t = process.hrtime.bigint(); for (let i = 0; i < N; i++) referringDomain(strs[2]!); console.log('refdomain', Number(process.hrtime.bigint() - t) / N | 0);
t = process.hrtime.bigint(); for (let i = 0; i < N; i++) new URL(strs[4]!); console.log('new URL', Number(process.hrtime.bigint() - t) / N | 0);
const o = {} as Record<string, number>;
t = process.hrtime.bigint(); for (let i = 0; i < N; i++) { const x = {}; for (let k = 0; k < 30; k++) Object.defineProperty(x, 'k'+(k%30), {value: k, enumerable: true, writable: true, configurable: true}); } console.log('define30', Number(process.hrtime.bigint() - t) / N | 0);
t = process.hrtime.bigint(); for (let i = 0; i < N; i++) { const x: Record<string, number> = {}; for (let k = 0; k < 30; k++) x['k'+(k%30)] = k; } console.log('assign30', Number(process.hrtime.bigint() - t) / N | 0);
