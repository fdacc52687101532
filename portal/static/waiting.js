/* Waiting page: polls at the interval the server names; enters once admitted. Far back it
   follows the board everybody shares (waitroom/board.py) and works out its own place from
   it; near the front, or whenever the board cannot tell, it asks for its place again.
   Before the draw a pre-queue page follows the board until it shows the draw, then works
   its rank out from the board's seed (waitroom/prequeue.py) or, without Web Crypto, asks. */
(function(){
  var box=document.getElementById("status"), token=box.dataset.token, first=null;
  var t=box.dataset, num=new Intl.NumberFormat(document.documentElement.lang||"id");
  function fmt(r){ if(!r) return t.msgUnknown;
    if(r[1]<60) return t.msgUnderMinute;
    return num.format(Math.floor(r[0]/60))+"–"+num.format(Math.ceil(r[1]/60))+" "+t.msgMinutes; }
  function set(id,text){ var el=document.getElementById(id); if(el.textContent!==text) el.textContent=text; }
  function show(p,range){
    if(first===null) first=p;
    // Only what changed is written: the live region then announces real moves only.
    set("position",num.format(p)); set("eta",fmt(range));
    // The share of the way from where this page started: someone first in line starts at
    // the start, not at a full bar.
    var done=first>0?(first-p)/first:0;
    document.getElementById("bar").style.width=(5+95*Math.max(0,Math.min(1,done)))+"%";
  }
  function place(f,b){
    if(b.sealed<0) return null;
    if(f.number>0&&f.number<=b.sealed){
      var served=b.sealed-b.order_left;
      if(f.rank<=0||f.rank<=served) return null;
      return b.returning+Math.max(1,f.rank-served);
    }
    if(f.number<b.head) return null;
    return b.returning+b.order_left+Math.max(1,f.number-b.head+1);
  }
  function wait(p,k){
    if(!k||!k.length) return null;
    if(k.length===1||p<=k[0][0]) return [k[0][1],k[0][2]];
    var i=1; while(i<k.length-1&&k[i][0]<p) i++;
    var a=k[i-1], c=k[i], s=(p-a[0])/(c[0]-a[0]);
    return [Math.max(0,Math.round(a[1]+s*(c[1]-a[1]))),Math.max(0,Math.round(a[2]+s*(c[2]-a[2])))];
  }
  // The draw's ranks (draw.js): a promise, or null where the browser cannot work them out.
  var drawRank=window.antreanDrawRank||function(){ return null; };
  function follow(f){
    fetch("/api/v1/queue/board",{credentials:"omit",headers:{"Accept":"application/json"}})
    .then(function(r){ if(!r.ok) throw 0; return r.json(); })
    .then(function(b){
      var w=b.poll_after_ms, again=function(){ setTimeout(function(){ follow(f); },w[0]+Math.random()*(w[1]-w[0])); };
      // Before the draw every page of the pre-queue is told the same: wait for the draw.
      if(b.sealed<0&&f.rank===0){ again(); return; }
      function go(){
        var p=place(f,b);
        if(p===null||p<=b.near){ poll(); return; }
        var note=document.getElementById("draw-note"); if(note) note.hidden=true;
        show(p,wait(p,b.knots)); again();
      }
      // Drawn now: a page of the pre-queue works its rank out from the seed, once.
      var ranked=f.rank===0&&b.seed&&f.number<=b.sealed?drawRank(b.seed,b.sealed,f.number):null;
      if(ranked) ranked.then(function(r){ f.rank=r; go(); },poll); else go();
    })
    .catch(function(){ setTimeout(poll,10000); });
  }
  function enter(){ var f=document.getElementById("enter-form"); if(f) f.submit(); }
  function poll(){
    fetch("/api/v1/queue/"+encodeURIComponent(token),{credentials:"same-origin",headers:{"Accept":"application/json"}})
    .then(function(r){ if(r.status===503) throw 0; return r.json(); })
    .then(function(d){
      if(d.state==="admitted"){ if(box.dataset.state!=="admitted") location.reload(); else enter(); return; }
      if(d.state!=="waiting"){ location.reload(); return; }
      if(d.awaiting_draw){
        if(d.follow) setTimeout(function(){ follow(d.follow); },d.poll_after_ms); else setTimeout(poll,d.poll_after_ms);
        return; }
      var note=document.getElementById("draw-note"); if(note) note.hidden=true;
      show(d.position,d.eta_range_seconds);
      if(d.follow){ setTimeout(function(){ follow(d.follow); },d.poll_after_ms); return; }
      setTimeout(poll,d.poll_after_ms);
    })
    .catch(function(){ setTimeout(poll,10000); });
  }
  if(box.dataset.state==="admitted") enter(); else setTimeout(poll,Math.min(+box.dataset.poll,5000));
})();
