'use client'
// app/identify-user.tsx: a client component; render <IdentifyUser userId={...} email={...} userHash={...} />
// in app/layout.tsx with the user your server session knows, and the HMAC-SHA256 of that userId your
// server computed with FLAMEUP_IDENTITY_SECRET (docs/proxy.md, Security). It renders nothing.
import { useEffect } from 'react'
import { getFlameup } from '../flameup-client'

export function IdentifyUser({ userId, email, userHash }: { userId?: string; email?: string; userHash?: string }) {
  useEffect(() => {
    if (userId) getFlameup()?.identify(userId, { email }, { userHash }).catch(console.warn)
  }, [userId, email, userHash])
  return null
}
