// Certificates: issue for the person at the counter (domestic, or overseas
// with passport data), the QR shown large and the PDF to print; verify a
// presented QR (pasted text, or the camera where the browser can read
// codes); revoke (supervisor).

import { plugin, may } from './api.js';
import { $, facts, wareki, download, base64Bytes } from './ui.js';
import { japanese } from './messages.js';

const PANEL = `
<h3>接種証明書</h3>
<form id="cert-form" autocomplete="off">
  <label for="cert-kind">種類</label>
  <select id="cert-kind"><option value="domestic">国内用</option><option value="overseas">海外用（旅券情報が必要）</option></select>
  <fieldset id="passport" class="passport" hidden>
    <legend>旅券情報</legend>
    <label for="pp-name">ローマ字氏名（旅券のとおり）</label>
    <input id="pp-name" autocapitalize="characters">
    <label for="pp-number">旅券番号</label>
    <input id="pp-number" autocapitalize="characters" maxlength="9">
    <label for="pp-nationality">国籍（3文字）</label>
    <input id="pp-nationality" value="JPN" maxlength="3">
  </fieldset>
  <button type="submit" id="cert-issue">証明書を発行</button>
  <p class="error" id="cert-error" role="alert"></p>
</form>
<div id="cert-result" hidden>
  <p id="cert-id" class="done" role="status"></p>
  <figure class="card-qr"><img id="cert-qr" alt="接種証明書のQRコード（SMART Health Card）"><figcaption>SMART Health Card</figcaption></figure>
  <figure class="card-qr" id="cert-vds-figure" hidden><img id="cert-vds" alt="海外用QRコード（ICAO VDS-NC）"><figcaption>ICAO VDS-NC</figcaption></figure>
  <p><button type="button" id="cert-pdf">PDFを保存（印刷用）</button></p>
</div>`;

/** The issuing panel under the person found at the counter. */
export function issuePanel(root, personId) {
  root.replaceChildren();
  if (!may('certificate/issue')) return;
  root.innerHTML = PANEL;
  let pdf = null;
  $('cert-kind').addEventListener('change', () => { $('passport').hidden = $('cert-kind').value !== 'overseas'; });
  $('cert-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    $('cert-error').textContent = '';
    $('cert-result').hidden = true;
    const kind = $('cert-kind').value;
    try {
      if (kind === 'overseas' && $('pp-number').value.trim()) {
        await plugin('certificate', 'register-passport', {
          person_id: personId,
          romanised_name: $('pp-name').value.trim().toUpperCase(),
          passport_number: $('pp-number').value.trim().toUpperCase(),
          nationality: $('pp-nationality').value.trim().toUpperCase(),
        });
      }
      const card = await plugin('certificate', 'issue', { person_id: personId, kind });
      $('cert-qr').src = `data:image/png;base64,${card.qr_png_base64}`;
      $('cert-vds-figure').hidden = !card.vds_qr_png_base64;
      if (card.vds_qr_png_base64) $('cert-vds').src = `data:image/png;base64,${card.vds_qr_png_base64}`;
      $('cert-id').textContent = `発行しました。証明書番号：${card.certificate_id}`;
      pdf = card.pdf_base64 ?? null;
      $('cert-pdf').hidden = !pdf;
      $('cert-result').hidden = false;
      $('cert-pdf').focus();
    } catch (e) {
      $('cert-error').textContent = e.message;
    }
  });
  $('cert-pdf').addEventListener('click', () => {
    if (pdf) download('接種証明書.pdf', 'application/pdf', base64Bytes(pdf));
  });
}

const SCREEN = `
<h2>証明書の確認と失効</h2>
<form id="check-form" autocomplete="off">
  <label for="check-qr">読み取ったQRコードの内容（shc:/ で始まる文字列）</label>
  <textarea id="check-qr" rows="4" required></textarea>
  <button type="submit">確認</button>
  <button type="button" id="check-camera" class="secondary" hidden>カメラで読み取る</button>
  <p class="error" id="check-error" role="alert"></p>
</form>
<video id="check-video" class="camera" hidden muted playsinline></video>
<div id="check-result" hidden>
  <p id="check-verdict" role="status"></p>
  <dl class="facts" id="check-facts"></dl>
</div>
<h3 id="revoke-title" hidden>証明書の失効</h3>
<form id="revoke-form" autocomplete="off" aria-labelledby="revoke-title" hidden>
  <label for="revoke-id">証明書番号</label>
  <input id="revoke-id" required>
  <label for="revoke-reason">理由</label>
  <select id="revoke-reason">
    <option value="issued-in-error">誤発行</option><option value="data-corrected">記録の訂正</option>
    <option value="superseded">再発行による置換</option><option value="withdrawn">本人の取下げ</option><option value="other">その他</option>
  </select>
  <button type="submit">失効させる</button>
  <p class="error" id="revoke-error" role="alert"></p>
  <p class="done" id="revoke-done" role="status"></p>
</form>`;

async function check(text) {
  $('check-error').textContent = '';
  $('check-result').hidden = true;
  try {
    const v = await plugin('certificate', 'verify', { qr: text.trim() });
    $('check-verdict').textContent = v.valid ? '有効な証明書です。' : `無効な証明書です（${v.reason ? japanese(v.reason) : '理由不明'}）。`;
    $('check-verdict').className = v.valid ? 'done' : 'error';
    const doses = v.doses ?? [];
    $('check-facts').replaceChildren(...facts([
      ['氏名', v.patient?.name], ['生年月日', wareki(v.patient?.birth_date)],
      ['接種', doses.map((d) => wareki(d.date)).join('、')], ['発行者', v.issuer],
    ]));
    $('check-result').hidden = false;
  } catch (e) {
    $('check-error').textContent = e.message;
  }
}

/** Reads a QR from the camera where the browser has a barcode detector. */
async function fromCamera() {
  const video = $('check-video');
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
  try {
    for (let i = 0; i < 600; i += 1) {
      const [code] = await detector.detect(video);
      if (code?.rawValue) {
        $('check-qr').value = code.rawValue;
        await check(code.rawValue);
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    for (const t of stream.getTracks()) t.stop();
    video.srcObject = null;
    video.hidden = true;
  }
}

export default {
  id: 'certificates',
  title: '証明書',
  shows: () => may('certificate/verify') || may('certificate/revoke'),
  render(root) {
    root.innerHTML = SCREEN;
    $('check-form').hidden = !may('certificate/verify');
    $('check-form').addEventListener('submit', (event) => { event.preventDefault(); check($('check-qr').value); });
    $('check-camera').hidden = !('BarcodeDetector' in window && navigator.mediaDevices);
    $('check-camera').addEventListener('click', () => fromCamera().catch((e) => { $('check-error').textContent = `カメラを使えません（${e.name}）。`; }));
    $('revoke-form').hidden = !may('certificate/revoke');
    $('revoke-title').hidden = $('revoke-form').hidden;
    $('revoke-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      $('revoke-error').textContent = '';
      $('revoke-done').textContent = '';
      try {
        await plugin('certificate', 'revoke', { certificate_id: $('revoke-id').value.trim(), reason: $('revoke-reason').value });
        $('revoke-done').textContent = '失効させました。この証明書と、それ以前に同じ方に発行した証明書は確認できなくなります。';
      } catch (e) {
        $('revoke-error').textContent = e.message;
      }
    });
  },
};
