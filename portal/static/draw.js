/* The pre-queue's draw, as waitroom/prequeue.py (Draw) makes it: a page works its own rank
   out from the seed the board publishes, instead of asking the server. */
// The rank of pre-queue number n in the draw of the numbers 1..last under seed: six
// Feistel rounds on the bits of n-1 keyed by SHA-256("seed:round:part"), walked again
// while past last (waitroom.prequeue.Draw). A promise, or null without Web Crypto.
window.antreanDrawRank=function(seed,last,n){
  var subtle=window.crypto&&window.crypto.subtle;
  if(!subtle||!window.TextEncoder||last>Math.pow(2,52)) return null;
  var k=Math.max(8,(last-1).toString(2).length), hi=Math.floor(k/2), lo=k-hi, enc=new TextEncoder();
  function pow(b){ return Math.pow(2,b); }
  function pass(x){
    var s=hi, t=lo, L=Math.floor(x/pow(t)), R=x%pow(t), i=0;
    function step(){
      if(i===6) return Promise.resolve(L*pow(t)+R);
      return subtle.digest("SHA-256",enc.encode(seed+":"+i+":"+R)).then(function(d){
        var mixed=L^(new DataView(d).getUint32(0)%pow(s)), u=s;
        L=R; R=mixed; s=t; t=u; i++; return step(); }); }
    return step(); }
  function walk(x){ return pass(x).then(function(y){ return y>=last?walk(y):y+1; }); }
  return walk(n-1);
};
