/* Join gate: finds the nonce the server asks for with Web Crypto, then joins again. */
(function(){
  var form=document.getElementById("proof-form"); if(!form) return;
  var bar=document.getElementById("proof-bar"), subtle=window.crypto&&window.crypto.subtle;
  var bits=+form.dataset.bits, expected=Math.pow(2,bits), next=0, BATCH=256;
  // No Web Crypto (an old browser, or a page not served over HTTPS): the slow lane.
  if(!subtle||!window.TextEncoder){ location.href="/antre/giliran"; return; }
  var enc=new TextEncoder(), prefix=enc.encode(form.dataset.challenge);
  function zeros(buf){
    var b=new Uint8Array(buf), n=0;
    for(var i=0;i<b.length;i++){ var x=b[i]; if(x===0){ n+=8; continue; }
      while(!(x&0x80)){ n++; x<<=1; } break; }
    return n; }
  function input(nonce){
    var tail=enc.encode(String(nonce)), all=new Uint8Array(prefix.length+tail.length);
    all.set(prefix); all.set(tail,prefix.length); return all; }
  function round(){
    var start=next, jobs=[]; next+=BATCH;
    for(var i=start;i<next;i++) jobs.push(subtle.digest("SHA-256",input(i)));
    return Promise.all(jobs).then(function(digests){
      for(var j=0;j<digests.length;j++) if(zeros(digests[j])>=bits) return start+j;
      // The chance of being done by now: an honest bar for a search without an end.
      bar.style.width=(5+90*(1-Math.exp(-next/expected)))+"%";
      return round(); }); }
  round().then(function(nonce){
    document.getElementById("proof-nonce").value=String(nonce);
    document.getElementById("proof-status").textContent=form.dataset.msgDone;
    form.submit();
  }).catch(function(){ location.href="/antre/giliran"; });
})();
