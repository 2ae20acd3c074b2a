// The host's and the plugins' messages in Japanese. They are English,
// begin with the field they are about and never quote a value, so a
// pattern per message is enough; one not known here is shown as it is.

const LABELS = {
  dose_number: '接種回数', date: '接種日', maker: 'メーカー', product: 'ワクチン名', lot: 'ロット番号',
  amount: '接種量', facility_code: '医療機関コード', doctor: '医師名', override_reason: '理由',
  person_id: '利用者ID', ticket_number: '接種券番号', birth_date: '生年月日', name: '氏名',
};
const label = (field) => LABELS[field] ?? field;

const PATTERNS = [
  [/^date is in the future$/, () => '接種日が未来の日付です。'],
  [/^date is before the person's birth date$/, () => '接種日が生年月日より前です。'],
  [/^date is earlier than a dose already recorded$/, () => '接種日が、記録済みの接種より前です。'],
  [/^(\w+) must be a real date written yyyy-mm-dd$/, (m) => `${label(m[1])}は実在する日付で入力してください。`],
  [/^maker is not a known vaccine maker/, () => 'メーカーが登録されていません。'],
  [/^product is not a product of /, () => 'ワクチン名がこのメーカーの製品ではありません。'],
  [/^lot must be /, () => 'ロット番号は英数字とハイフンで4〜12文字です（例：FA5765）。'],
  [/^amount must be /, () => '接種量は0.01〜1.0 mLで入力してください（例：0.3）。'],
  [/^facility_code must be /, () => '医療機関コードは10桁の数字です。'],
  [/^doctor must be a name of at most (\d+) characters$/, (m) => `医師名は${m[1]}文字以内で入力してください。`],
  [/^the person already has dose (\d+) of this vaccine/, (m) => `この方には${m[1]}回目の記録がすでにあります。`],
  [/^dose_number should be (\d+) \(the next after dose (\d+)\)$/, (m) => `接種回数は${m[1]}回目のはずです（記録済みは${m[2]}回目まで）。`],
  [/^the person has moved out$/, () => 'この方は転出しています。'],
  [/^the person is recorded as deceased$/, () => 'この方は死亡と記録されています。'],
  [/^(\w+) is required$/, (m) => `${label(m[1])}を入力してください。`],
  [/^(\w+) must be a whole number$/, (m) => `${label(m[1])}は数字で入力してください。`],
  [/^the staff user who entered a dose cannot verify it/, () => '入力した本人は確認できません。別の職員が確認してください。'],
  [/already verified$/, () => 'この記録はすでに確認済みです。'],
  [/^the (card|certificate) is revoked$/, () => '失効しています'],
  [/^the signature does not verify$/, () => '署名が正しくありません'],
  [/^no key of the issuer has this kid$/, () => 'この自治体の鍵で署名されていません'],
  [/^the document is not issued by JPN$/, () => '日本の発行ではありません'],
  [/^this node takes part in no exchanges/, () => 'このサーバーは自治体間の照会に参加していません（管理者に連絡してください）。'],
  [/^a password needs at least (\d+) characters$/, (m) => `パスワードは${m[1]}文字以上にしてください。`],
];

/** One message, or each part of a "; "-joined list, in Japanese. */
export function japanese(raw) {
  const parts = String(raw ?? '').replace(/; give override_reason to record it anyway$/, '').split('; ');
  return parts.map((part) => {
    for (const [pattern, say] of PATTERNS) {
      const m = pattern.exec(part);
      if (m) return say(m);
    }
    return part;
  }).join(' ');
}
