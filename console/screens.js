// The console's screens, in menu order. Each is one module exporting
// { id, title, shows(session), render(root) }: `shows` decides from the
// session's grants whether it appears, `render` builds it inside its own
// <section> (rebuilt empty after a lock or logout). A vendor's plugin
// brings its screen by adding its file and its line here.

import counter from './counter.js';
import certificate from './certificate.js';
import verify from './verify.js';
import campaigns from './campaigns.js';
import audit from './audit.js';
import history from './history.js';
import doseImport from './import.js';
import movein from './movein.js';
import rights from './rights.js';
import admin from './admin.js';

export default [counter, verify, certificate, movein, campaigns, history, doseImport, rights, audit, admin];
