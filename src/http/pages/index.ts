export { PAGE_CSP, pageCsp, REFERRER_POLICY } from './layout.js';
export { linkErrorPage, resultPage, type ResultKind } from './result-pages.js';
export { verifyPage, type VerifyPageType } from './verify-page.js';
