const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const R: Record<string, RegExp> = {
SECRET: new RegExp(['(?<![A-Za-z0-9_-])(?:', ['sk-[A-Za-z0-9_-]{20,}','[sr]k_(?:live|test)_[0-9A-Za-z]{10,}','whsec_[A-Za-z0-9+/=]{20,}','(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])','gh[pousr]_[A-Za-z0-9]{36,}','github_pat_[A-Za-z0-9_]{22,}','xox[abposre]-[A-Za-z0-9-]{10,}','xapp-[0-9]-[A-Za-z0-9-]{10,}','AIza[0-9A-Za-z_-]{35}','glpat-[A-Za-z0-9_-]{20,}','npm_[A-Za-z0-9]{36}','SG\\.[A-Za-z0-9_-]{16,}\\.[A-Za-z0-9_-]{16,}','shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}','hf_[A-Za-z]{30,}','dop_v1_[a-f0-9]{64}','[Bb]earer\\s+[A-Za-z0-9._~+/-]{20,}=*'].join('|'), ')'].join(''), 'g'),
PRE: /sk[-_]|rk_|whsec_|A[KS]IA|gh[pousr]_|github_pat_|xox|xapp-|AIza|glpat-|npm_|SG\.|shp|hf_|dop_v1_|[Bb]earer/,
IBAN: /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,34}/g,
IBAN2: /[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,34}/g,
CARD: /(?<![\d.+])\d(?:[ -]?\d){12,}(?!\d)/g,
IPV4: new RegExp(`(?<![A-Za-z0-9.])(?:${OCTET}\\.){3}${OCTET}(?![A-Za-z0-9]|\\.\\d)`, 'g'),
INTL: /(?<![\w+])\+[1-9]\d{0,3}(?:[ .-]?(?:\(\d{1,5}\)|\d{1,5}))+/g,
NANP: /(?<![\w+.-])(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?[2-9]\d{2}[ .-]\d{4}(?![\w-]|\.\d)/g,
TRUNK: /(?<![\w+.-])(?:\(0\d{1,4}\)|0\d{1,4})(?:[ .-]\d{1,8}){1,6}(?![\w-]|\.\d)/g,
NANP2: /(?:\([2-9]\d{2}\)|[2-9]\d{2})[ .-]?[2-9]\d{2}[ .-]\d{4}(?![\w-]|\.\d)/g,
};
const strs = ['k3j4h5g6f7d8s9a0','$device:18c1f2a3b4c5d6-0e1f2a3b4c5d6e-26001951-1fa400-18c1f2a3b4c5d6','https://app.example.com/dashboard/reports?utm_source=newsletter&utm_medium=email'];
const N = 200000;
for (const s of strs) { console.log(s.slice(0,30)); for (const [n, r] of Object.entries(R)) { let t = process.hrtime.bigint(); for (let i = 0; i < N; i++) { r.lastIndex = 0; r.test(s); } console.log('  ', n.padEnd(8), Number(process.hrtime.bigint() - t) / N | 0); } }
